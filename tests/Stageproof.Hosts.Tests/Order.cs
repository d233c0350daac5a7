using Stageproof.Hosts.Tests.Artifacts;
using Stageproof.Hosts.Tests.Databases;
using Stageproof.Hosts.Tests.Rollouts;
using Stageproof.Testing;

// The longest classes first (the serial latency collection runs after every parallel one, as xUnit does anyway).
[assembly: TestCollectionOrderer(StartFirstOrderer.TypeName, StartFirstOrderer.AssemblyName)]
[assembly: StartFirst(nameof(PostgresRollbackPointTests), nameof(PostgresEngineTests), nameof(RolloutKillTests), nameof(SnapshotPublisherTests))]
