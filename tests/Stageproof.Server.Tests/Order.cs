using Stageproof.Server.Tests;
using Stageproof.Testing;

// The worker classes are the project's longest (minutes of killed and restarted workers): they start first.
[assembly: TestCollectionOrderer(StartFirstOrderer.TypeName, StartFirstOrderer.AssemblyName)]
[assembly: StartFirst(nameof(WorkerTests), nameof(WorkerJobTests), nameof(ConsoleBrowserTests), nameof(OidcSignInTests), nameof(OidcBrowserTests), nameof(RolloutControlBrowserTests), nameof(RolloutControlApiTests))]
