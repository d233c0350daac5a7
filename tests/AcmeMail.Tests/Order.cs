using Stageproof.Testing;

// The packages' collection (bad packages built and read back) is the longer of the two.
[assembly: TestCollectionOrderer(StartFirstOrderer.TypeName, StartFirstOrderer.AssemblyName)]
[assembly: StartFirst("debs", "postgres")]
