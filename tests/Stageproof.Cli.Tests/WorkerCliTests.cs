using Stageproof.Core;

namespace Stageproof.Cli.Tests;

public class WorkerCliTests
{
    private const string NoJobs = """
        hosts:
          h1: { transport: local }
        environments:
          staging: { hosts: [h1] }
        """;

    [Fact]
    public async Task A_worker_or_a_serving_worker_without_a_jobs_store_is_bad_input_naming_the_configuration()
    {
        using var scratch = new Scratch();
        await File.WriteAllTextAsync(Path.Combine(scratch.Dir, "stageproof.yaml"), NoJobs);

        var worker = await CliRun.InAsync(scratch.Dir, "worker");
        Assert.True(worker.ExitCode == ExitCodes.BadInput, worker.Stderr);
        Assert.Contains("stageproof.yaml: no jobs: store", worker.Stderr, StringComparison.Ordinal);

        var serve = await CliRun.InAsync(scratch.Dir, "serve", "--urls", "http://127.0.18.20:0", "--worker");
        Assert.True(serve.ExitCode == ExitCodes.BadInput, serve.Stderr);
        Assert.Contains("--worker:", serve.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_jobs_store_that_does_not_answer_is_an_infrastructure_error_naming_it()
    {
        using var scratch = new Scratch();
        await File.WriteAllTextAsync(Path.Combine(scratch.Dir, "stageproof.yaml"), NoJobs + "\njobs: { store: \"postgres://nobody@127.0.18.21:1/none\" }\n");
        Environment.SetEnvironmentVariable("STAGEPROOF_JOBS_PASSWORD", "unused");
        try
        {
            var worker = await CliRun.InAsync(scratch.Dir, "worker");
            Assert.True(worker.ExitCode == ExitCodes.Infrastructure, worker.Stderr);
            Assert.Contains("jobs store postgres://nobody@127.0.18.21:1/none", worker.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable("STAGEPROOF_JOBS_PASSWORD", null);
        }
    }
}
