using Stageproof.Cli.Tests;
using Stageproof.Cli.Tests.Reports;
using Stageproof.Testing;

// The two lab classes are the project's length (minutes of stages and rollouts): they start first, side by side.
[assembly: TestCollectionOrderer(StartFirstOrderer.TypeName, StartFirstOrderer.AssemblyName)]
[assembly: StartFirst(nameof(LabStageTests), LifecycleLabCollection.Name, nameof(LabApplyTests), nameof(FactsCliTests), nameof(StageHtmlBrowserTests))]
