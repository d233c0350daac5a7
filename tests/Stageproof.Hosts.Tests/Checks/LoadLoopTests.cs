using Stageproof.Core.Checks;
using Stageproof.Hosts.Checks;

namespace Stageproof.Hosts.Tests.Checks;

/// <summary>
/// The load loop's rules about what it records, with fake clients (in-process delegates, no server): the warm-up keeps
/// early samples out, a warm-up request that fails after the measured window began still counts, and a client with no
/// request answered within the window is starved.
/// </summary>
public sealed class LoadLoopTests
{
    private static LoadGenerator.LoadShape Shape(int clients, int warmup) =>
        new(clients, TimeSpan.FromMilliseconds(300), null, warmup, TimeSpan.FromSeconds(5));

    [Fact]
    public async Task A_client_whose_first_request_gets_no_answer_until_after_the_window_counts_as_an_error()
    {
        // Fake clients: client 0 blocks in its first (warm-up) request until the window is over, then fails, as a client
        // of a server with no room for it does; the others answer at once, once it has begun (so its request is one of
        // the warm-up).
        var client = 0;
        var blockedIteration = -1;
        var blockedBegan = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var result = await LoadGenerator.RunLoopAsync(Shape(4, warmup: 8), () =>
        {
            var blocked = Interlocked.Increment(ref client) == 1;
            var first = true;
            return new LoadGenerator.LoadClient(async (iteration, clock, add, ct) =>
            {
                var start = clock.Elapsed.TotalMilliseconds;
                if (blocked && first)
                {
                    first = false;
                    blockedIteration = iteration;
                    blockedBegan.SetResult();
                    await Task.Delay(600, ct);
                    add(new LoadSample(start, clock.Elapsed.TotalMilliseconds - start, false, "bind"), "no answer within 0.6s");
                    return;
                }
                await blockedBegan.Task.WaitAsync(ct);
                await Task.Delay(1, ct); // a pace that stays far below the sample cap, which would end the run early
                add(new LoadSample(start, clock.Elapsed.TotalMilliseconds - start, true, "bind"), null);
            });
        }, CancellationToken.None);

        Assert.InRange(blockedIteration, 0, 7); // a warm-up request
        Assert.Equal(1, result.Run.Samples.Count(s => !s.Ok));
        Assert.Equal("no answer within 0.6s", result.FirstError);
        // The other clients were measured beside it. How many samples they got in the 300 ms window is the machine's
        // speed, not the loop's behaviour: "more than 10" failed once in CI with 2, on two cores busy with a lab.
        Assert.Contains(result.Run.Samples, s => s.Ok);
    }

    [Fact]
    public async Task A_client_answered_only_after_the_window_is_starved_and_fails_the_load_though_no_request_failed()
    {
        // Fake clients: client 0's first request (measured: no warm-up) waits out the window and then succeeds, as with
        // a server that serves only some clients at a time and takes the rest once the others leave; the others answer
        // at once. No error, a p95 that barely moves: only the count of clients served in the window shows it.
        var client = 0;
        var blockedBegan = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var result = await LoadGenerator.RunLoopAsync(Shape(4, warmup: 0), () =>
        {
            var blocked = Interlocked.Increment(ref client) == 1;
            return new LoadGenerator.LoadClient(async (iteration, clock, add, ct) =>
            {
                var start = clock.Elapsed.TotalMilliseconds;
                if (blocked)
                {
                    blockedBegan.TrySetResult();
                    await Task.Delay(600, ct);
                }
                else
                {
                    await blockedBegan.Task.WaitAsync(ct);
                    await Task.Delay(1, ct); // a pace that stays far below the sample cap, which would end the run early
                }
                add(new LoadSample(start, clock.Elapsed.TotalMilliseconds - start, true, "bind"), null);
            });
        }, CancellationToken.None);

        Assert.Equal(1, result.StarvedClients);
        Assert.Equal(0, result.Errors);
        var outcome = LoadGenerator.Summarise(4, 0, null, "ldap://127.0.0.1/", result);
        Assert.Equal(CheckStatus.Failed, outcome.Status);
        // The window's length as measured: 0.6 s when quiet, over a second once on a busy machine (the fast tier's).
        Assert.Matches(@"^1 of 4 clients had no request answered in the \d+(\.\d+)?s window", outcome.Message);
        Assert.Equal(1, outcome.Measurements!["starved_clients"]);
    }

    [Fact]
    public async Task Clients_that_all_get_answers_are_none_starved()
    {
        var result = await LoadGenerator.RunLoopAsync(Shape(4, warmup: 8), () => new LoadGenerator.LoadClient(async (iteration, clock, add, ct) =>
        {
            var start = clock.Elapsed.TotalMilliseconds;
            await Task.Delay(1, ct);
            add(new LoadSample(start, clock.Elapsed.TotalMilliseconds - start, true, "get"), null);
        }), CancellationToken.None);

        Assert.Equal(0, result.StarvedClients);
        Assert.Equal(CheckStatus.Passed, LoadGenerator.Summarise(4, 0, null, "http://127.0.0.1/", result).Status);
    }

    [Fact]
    public async Task Warm_up_requests_are_not_recorded_whether_they_succeed_or_fail_before_the_window()
    {
        var result = await LoadGenerator.RunLoopAsync(Shape(2, warmup: 2), () => new LoadGenerator.LoadClient(async (iteration, clock, add, ct) =>
        {
            var start = clock.Elapsed.TotalMilliseconds;
            // The first two iterations are the warm-up: one fails at once (before the other client can begin the window),
            // one is slow; neither may show.
            if (iteration == 0)
            {
                add(new LoadSample(start, 0.1, false, "get"), "refused");
                return;
            }
            await Task.Delay(2, ct);
            add(new LoadSample(start, iteration == 1 ? 5_000 : clock.Elapsed.TotalMilliseconds - start, true, "get"), null);
        }), CancellationToken.None);

        Assert.All(result.Run.Samples, s => Assert.True(s.Ok && s.LatencyMs < 5_000, $"{s}"));
        Assert.Null(result.FirstError);
        Assert.NotEmpty(result.Run.Samples);
    }
}
