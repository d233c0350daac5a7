namespace Stageproof.Testing;

/// <summary>
/// Keeps tests that judge a service's latency against its own noise floor (a stage's before/after load comparison with
/// no control twin in the same seconds) apart from tests that load the machine hard in bursts (rollouts killed and
/// resumed, workers killed and restarted, whole labs brought up and down), across the test processes <c>dotnet test</c>
/// runs side by side: a machine-wide lock file, shared by the judges, exclusive for the heavy. Once a worker test ran
/// beside a stage test, the good update's p95 latency tripled between its baseline and its comparison and the stage
/// FAILed; once the CLI's SIGKILL trials and a mail-estate lab coming up ran beside the mail estate's slapd stage, and
/// its login p95 went from 66 ms to 224 ms. A stage judged against a control twin needs no lock: a busy neighbour slows
/// the twins alike. Not a timing assertion: only who runs at the same time.
/// </summary>
public abstract class MachineLoad : IAsyncLifetime
{
    private static readonly string LockPath = Path.Combine(Path.GetTempPath(), "stageproof-tests-machine-load.lock");

    /// <summary>How long a class waits for the others at most; beyond it the test fails, naming the lock.</summary>
    private static readonly TimeSpan MaxWait = TimeSpan.FromMinutes(45);

    private readonly FileShare _share;
    private FileStream? _held;

    private protected MachineLoad(FileShare share) => _share = share;

    public async Task InitializeAsync()
    {
        var deadline = DateTimeOffset.UtcNow + MaxWait;
        while (true)
        {
            try
            {
                // On Unix .NET takes flock(LOCK_SH) for a shared open and flock(LOCK_EX) for FileShare.None, without waiting.
                _held = new FileStream(LockPath, FileMode.OpenOrCreate, _share == FileShare.None ? FileAccess.ReadWrite : FileAccess.Read, _share);
                return;
            }
            catch (IOException) when (DateTimeOffset.UtcNow < deadline)
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
            catch (IOException e)
            {
                throw new InvalidOperationException($"{LockPath}: still held by other tests after {MaxWait.TotalMinutes:0} minutes", e);
            }
        }
    }

    public Task DisposeAsync()
    {
        _held?.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>Held by a test class whose verdicts compare latency measured minutes apart: other judges may run beside it.</summary>
public sealed class JudgesLatency() : MachineLoad(FileShare.ReadWrite);

/// <summary>Held by a test class (or a test, for its own run) that loads the machine hard: no latency judge runs beside it.</summary>
public sealed class LoadsMachine() : MachineLoad(FileShare.None)
{
    /// <summary>Runs one test's heavy part once no judge runs, holding the lock until it ends (the rest of its class
    /// need not wait).</summary>
    public static async Task AloneAsync(Func<Task> heavy)
    {
        var held = new LoadsMachine();
        await held.InitializeAsync();
        try
        {
            await heavy();
        }
        finally
        {
            await held.DisposeAsync();
        }
    }
}
