using Stageproof.Core.Tests.Checks;
using Stageproof.Core.Tests.Configuration;
using Stageproof.Testing;

[assembly: TestCollectionOrderer(StartFirstOrderer.TypeName, StartFirstOrderer.AssemblyName)]
[assembly: StartFirst(nameof(InventoryParityTests), nameof(LoadStatisticsTests), nameof(SuiteComparisonTests))]
