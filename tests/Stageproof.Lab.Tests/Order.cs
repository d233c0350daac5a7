using Stageproof.Lab.Tests;
using Stageproof.Testing;

// The serial noise-floor collection is the project's longest path. Beside it first the lab up/down class (its bursts
// land while every lab of the run comes up, before the collection's first baseline), then the upstream lab's one test.
[assembly: TestCollectionOrderer(StartFirstOrderer.TypeName, StartFirstOrderer.AssemblyName)]
[assembly: StartFirst(LabCollection.Name, nameof(LabLifecycleTests), nameof(UpstreamLabTests), nameof(LabSnapshotTests), nameof(BastionLabTests))]
