using Stageproof.Lab.Tests;
using Stageproof.Testing;

// The serial noise-floor collection is the project's longest path; the upstream lab's one test beside it the next.
[assembly: TestCollectionOrderer(StartFirstOrderer.TypeName, StartFirstOrderer.AssemblyName)]
[assembly: StartFirst(LabCollection.Name, nameof(UpstreamLabTests), nameof(LabLifecycleTests), nameof(LabSnapshotTests), nameof(BastionLabTests))]
