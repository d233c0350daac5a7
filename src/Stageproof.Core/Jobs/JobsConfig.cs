namespace Stageproof.Core.Jobs;

/// <summary>
/// <c>jobs:</c> in stageproof.yaml: where the durable job store lives (Quartz.NET's tables on PostgreSQL), shared by
/// <c>stageproof serve</c> and every <c>stageproof worker</c>. Absent, rollouts run in the process that started them.
/// </summary>
public sealed record JobsConfig
{
    /// <summary>The store as written (<c>postgres://USER@HOST:PORT/DB</c>), without a password.</summary>
    public required Uri Store { get; init; }
    public required string User { get; init; }
    public required string Host { get; init; }
    public required int Port { get; init; }
    public required string Database { get; init; }
    /// <summary>The file the password was read from (<c>password_file</c>); null when it comes from
    /// <see cref="PasswordVariable"/>.</summary>
    public string? PasswordFile { get; init; }
    /// <summary>How often a node tells the cluster it is alive; a node silent for longer than this (plus Quartz's
    /// grace) is declared dead and its jobs re-fire elsewhere.</summary>
    public TimeSpan Checkin { get; init; } = TimeSpan.FromSeconds(15);
    /// <summary>How often the process running a rollout refreshes its environment lock's heartbeat in the state
    /// (<c>lock_heartbeat</c>). A lock whose heartbeat has been silent for <see cref="Rollouts.RolloutLock.MissedBeats"/>
    /// of its holder's intervals may be taken over by any process on any machine.</summary>
    public TimeSpan LockHeartbeat { get; init; } = DefaultLockHeartbeat;
    /// <summary>How long a rollout job that finds its environment locked by another live rollout waits before it tries
    /// again (<c>lock_retry</c>).</summary>
    public TimeSpan LockRetry { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>How many times in all such a job tries before it gives up (<c>lock_attempts</c>).</summary>
    public int LockAttempts { get; init; } = 20;
    /// <summary>How long a rollout job stopped by an error (the state's database refusing connections, a worker's
    /// store unreachable) waits before its first retry (<c>error_retry</c>); each further retry waits twice as long,
    /// at most <see cref="MaxErrorRetry"/>.</summary>
    public TimeSpan ErrorRetry { get; init; } = DefaultErrorRetry;
    /// <summary>How many times in all such a job runs before the rollout is left for <c>rollout resume</c>
    /// (<c>error_attempts</c>).</summary>
    public int ErrorAttempts { get; init; } = DefaultErrorAttempts;
    /// <summary>Where in stageproof.yaml this was written.</summary>
    public required Configuration.ValueSource Source { get; init; }

    /// <summary><see cref="LockHeartbeat"/> when nothing says otherwise, also for rollouts run without a <c>jobs:</c> store.</summary>
    public static readonly TimeSpan DefaultLockHeartbeat = TimeSpan.FromSeconds(10);

    public static readonly TimeSpan DefaultErrorRetry = TimeSpan.FromSeconds(30);
    public const int DefaultErrorAttempts = 8;
    public static readonly TimeSpan MaxErrorRetry = TimeSpan.FromMinutes(15);

    /// <summary>The wait before attempt <paramref name="attempt"/> (2 or more) of a job stopped by an error: doubling
    /// from <see cref="ErrorRetry"/>, at most <see cref="MaxErrorRetry"/> (or <see cref="ErrorRetry"/> when that is longer).</summary>
    public TimeSpan ErrorBackoff(int attempt) =>
        TimeSpan.FromTicks((long)Math.Min(Math.Max(MaxErrorRetry.Ticks, ErrorRetry.Ticks), ErrorRetry.Ticks * Math.Pow(2, Math.Clamp(attempt - 2, 0, 30))));

    /// <summary>The environment variable a password may come from instead of a file.</summary>
    public const string PasswordVariable = "STAGEPROOF_JOBS_PASSWORD";

    /// <summary>The password: the file's first line, else <see cref="PasswordVariable"/>; read when connecting, so a
    /// rotated password needs no configuration change.</summary>
    public string Password()
    {
        if (PasswordFile is { } file)
        {
            var (text, problem) = Validation.InputFiles.ReadText(file, 4096);
            return text?.TrimEnd('\r', '\n') ?? throw new InputException($"{Source.File}:{Source.Line}: jobs.password_file: {file}: {problem}");
        }
        return System.Environment.GetEnvironmentVariable(PasswordVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment
            : throw new InputException($"{Source.File}:{Source.Line}: jobs: no password_file and {PasswordVariable} is not set");
    }
}
