using Stageproof.Data.Tests;
using Stageproof.Testing;

[assembly: TestCollectionOrderer(StartFirstOrderer.TypeName, StartFirstOrderer.AssemblyName)]
[assembly: StartFirst(nameof(PostgresStateStoreContractTests))]
