using Stageproof.Bench;
using Stageproof.Bench.Scale;

// stageproof benchmarks: `dotnet run -c Release --project bench/Stageproof.Bench -- SUITE [--runs N] [--warmup N]`.
// Each suite is an IBenchmarkSuite registered below; "all" runs every one of them. The server suite (throughput and
// latency percentiles under concurrent clients, not per-operation runs) has its own options and tables:
// `... -- server [--clients N] [--seconds N]`. The scale suite (a rollout over a simulated estate by worker processes)
// has its own too: `... -- scale [--hosts N] [--environments N] [--workers 1,2,4] [--latency-ms N]`; scale-worker is its
// child process.
IBenchmarkSuite[] suites = [new DriftSuite(), new FactsSuite(), new SnapshotSuite(), new DirectorySuite(), new StatisticsSuite()];

if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.Error.WriteLine("usage: Stageproof.Bench SUITE|all [--runs N] [--warmup N]");
    Console.Error.WriteLine("       Stageproof.Bench server [--clients N] [--seconds N]");
    foreach (var s in suites) Console.Error.WriteLine($"  {s.Name,-10} {s.Description}");
    Console.Error.WriteLine($"  {ServerSuite.Name,-10} {ServerSuite.Description} (not part of all)");
    Console.Error.WriteLine($"  {ScaleSuite.Name,-10} {ScaleSuite.Description} (not part of all)");
    return args.Length == 0 ? 2 : 0;
}

if (args[0] == ScaleWorker.Command && args.Length == 3)
{
    return await ScaleWorker.RunAsync(args[1], int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture));
}

if (args[0] == ScaleSuite.Name)
{
    ScaleOptions scaleOptions;
    try
    {
        scaleOptions = ScaleOptions.Parse(args.AsSpan(1));
    }
    catch (ArgumentException ex)
    {
        Console.Error.WriteLine(ex.Message);
        return 2;
    }
    Console.WriteLine($"Stageproof.Bench — {Environment.ProcessorCount} logical CPUs, .NET {Environment.Version}, " +
        $"{(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC, {BuildConfiguration.Name} build");
    Console.WriteLine();
    Console.WriteLine($"## {ScaleSuite.Name}");
    Console.WriteLine();
    return OperatingSystem.IsLinux() ? await ScaleSuite.RunAsync(scaleOptions) : 2;
}

if (args[0] == ServerSuite.Name)
{
    ServerBenchOptions serverOptions;
    try
    {
        serverOptions = ServerBenchOptions.Parse(args.AsSpan(1));
    }
    catch (ArgumentException ex)
    {
        Console.Error.WriteLine(ex.Message);
        return 2;
    }
    Console.WriteLine($"Stageproof.Bench — {Environment.ProcessorCount} logical CPUs, .NET {Environment.Version}, " +
        $"{(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC, {BuildConfiguration.Name} build");
    Console.WriteLine($"command: dotnet run -c Release --project bench/Stageproof.Bench -- server --clients {serverOptions.Clients} --seconds {serverOptions.Seconds}");
    Console.WriteLine();
    Console.WriteLine($"## {ServerSuite.Name}");
    Console.WriteLine();
    return OperatingSystem.IsLinux() ? await ServerSuite.RunAsync(serverOptions) : 2;
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args.AsSpan(1));
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

var selected = args[0] == "all" ? suites : suites.Where(s => s.Name == args[0]).ToArray();
if (selected.Length == 0)
{
    Console.Error.WriteLine($"unknown suite '{args[0]}' (known: {string.Join(", ", suites.Select(s => s.Name))}, all)");
    return 2;
}

Console.WriteLine($"Stageproof.Bench — {Environment.ProcessorCount} logical CPUs, .NET {Environment.Version}, " +
    $"{(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC, {BuildConfiguration.Name} build");
Console.WriteLine($"warm-up {options.Warmup}, runs {options.Runs}; times are per operation");
foreach (var suite in selected)
{
    Console.WriteLine();
    Console.WriteLine($"## {suite.Name}");
    Console.WriteLine();
    foreach (var line in suite.Describe()) Console.WriteLine(line);
    Console.WriteLine();
    Console.WriteLine(Measurement.TableHeader);
    foreach (var m in suite.Run(options)) Console.WriteLine(m.ToTableRow());
}
return 0;
