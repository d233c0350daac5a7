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
    // The measured window. Two seconds, not a few hundred milliseconds: the clients run on threads of their own, and on
    // two cores busy with labs their start alone once took longer than a 300-ms window (every client starved, CI failed).
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(2);

    private static LoadGenerator.LoadShape Shape(int clients, int warmup) => new(clients, Window, null, warmup, TimeSpan.FromSeconds(5));

    // Waits until the run's clock is past the window (for a run without warm-up, the window starts with the clock); at
    // once if it already is.
    private static Task PastTheWindowAsync(System.Diagnostics.Stopwatch clock, CancellationToken ct)
    {
        var left = Window + TimeSpan.FromMilliseconds(300) - clock.Elapsed;
        return left > TimeSpan.Zero ? Task.Delay(left, ct) : Task.CompletedTask;
    }

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
                    await PastTheWindowAsync(clock, ct);
                    add(new LoadSample(start, clock.Elapsed.TotalMilliseconds - start, false, "bind"), "no answer within 2.3s");
                    return;
                }
                await blockedBegan.Task.WaitAsync(ct);
                await Task.Delay(1, ct); // a pace that stays far below the sample cap, which would end the run early
                add(new LoadSample(start, clock.Elapsed.TotalMilliseconds - start, true, "bind"), null);
            });
        }, CancellationToken.None);

        Assert.InRange(blockedIteration, 0, 7); // a warm-up request
        Assert.Equal(1, result.Run.Samples.Count(s => !s.Ok));
        Assert.Equal("no answer within 2.3s", result.FirstError);
        // The other clients were measured beside it. How many samples they got in the window is the machine's speed, not
        // the loop's behaviour: "more than 10" in 300 ms failed once in CI with 2, on two cores busy with a lab.
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
                    await PastTheWindowAsync(clock, ct);
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
        // The window's length as measured (the run ends with the blocked client's answer): 2.3 s when quiet, more on a busy machine.
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
        var firstFailed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var result = await LoadGenerator.RunLoopAsync(Shape(2, warmup: 2), () => new LoadGenerator.LoadClient(async (iteration, clock, add, ct) =>
        {
            var start = clock.Elapsed.TotalMilliseconds;
            // The first two iterations are the warm-up: one fails at once (before the window begins: the other client
            // waits for it, so a thread descheduled in between cannot let the window begin first), one is slow; neither
            // may show.
            if (iteration == 0)
            {
                add(new LoadSample(start, 0.1, false, "get"), "refused");
                firstFailed.SetResult();
                return;
            }
            await firstFailed.Task.WaitAsync(ct);
            await Task.Delay(2, ct);
            add(new LoadSample(start, iteration == 1 ? 5_000 : clock.Elapsed.TotalMilliseconds - start, true, "get"), null);
        }), CancellationToken.None);

        Assert.All(result.Run.Samples, s => Assert.True(s.Ok && s.LatencyMs < 5_000, $"{s}"));
        Assert.Null(result.FirstError);
        Assert.NotEmpty(result.Run.Samples);
    }
}
