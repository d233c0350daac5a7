namespace Stageproof.Core.Tests.Configuration;

public sealed class JobsConfigTests : IDisposable
{
    private readonly TempConfig _temp = new();

    public void Dispose() => _temp.Dispose();

    private void PasswordFile(UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        var path = _temp.Write("jobs.password", "pw from the file\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, mode);
        }
    }

    [Fact]
    public void Jobs_are_read_with_the_store_split_and_the_password_from_its_file()
    {
        PasswordFile();
        var jobs = _temp.Load("""
            jobs:
              store: postgres://stageproof@db.internal:6432/stageproof_jobs
              password_file: jobs.password
              checkin: 5s
            """).Jobs!;

        Assert.Equal(("stageproof", "db.internal", 6432, "stageproof_jobs"), (jobs.User, jobs.Host, jobs.Port, jobs.Database));
        Assert.Equal(TimeSpan.FromSeconds(5), jobs.Checkin);
        Assert.Equal("pw from the file", jobs.Password());
    }

    [Fact]
    public void Without_jobs_rollouts_run_in_process_and_the_check_in_defaults_to_fifteen_seconds()
    {
        Assert.Null(_temp.Load("hosts: {}").Jobs);
        Assert.Equal(TimeSpan.FromSeconds(15), _temp.Load("jobs: { store: postgres://u@h/db }").Jobs!.Checkin);
    }

    [Fact]
    public void The_lock_heartbeat_and_the_wait_for_a_held_environment_are_read_with_their_defaults()
    {
        var defaults = _temp.Load("jobs: { store: postgres://u@h/db }").Jobs!;
        Assert.Equal((TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30), 20), (defaults.LockHeartbeat, defaults.LockRetry, defaults.LockAttempts));

        var set = _temp.Load("jobs: { store: postgres://u@h/db, lock_heartbeat: 2s, lock_retry: 1m, lock_attempts: 3 }").Jobs!;
        Assert.Equal((TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(1), 3), (set.LockHeartbeat, set.LockRetry, set.LockAttempts));
    }

    [Fact]
    public void A_job_stopped_by_an_error_retries_after_a_doubling_wait_capped_at_fifteen_minutes()
    {
        var defaults = _temp.Load("jobs: { store: postgres://u@h/db }").Jobs!;
        Assert.Equal((TimeSpan.FromSeconds(30), 8), (defaults.ErrorRetry, defaults.ErrorAttempts));
        Assert.Equal([30, 60, 120, 240, 480, 900, 900], Enumerable.Range(2, 7).Select(a => defaults.ErrorBackoff(a).TotalSeconds));

        var set = _temp.Load("jobs: { store: postgres://u@h/db, error_retry: 20m, error_attempts: 3 }").Jobs!;
        Assert.Equal((TimeSpan.FromMinutes(20), 3), (set.ErrorRetry, set.ErrorAttempts));
        Assert.Equal(TimeSpan.FromMinutes(20), set.ErrorBackoff(4));
    }

    [Theory]
    [InlineData("jobs: { store: \"postgres://u@h/db\", error_retry: 10ms }", "jobs.error_retry", "too short a retry delay")]
    [InlineData("jobs: { store: \"postgres://u@h/db\", error_attempts: 101 }", "jobs.error_attempts", "expected a whole number from 1 to 100")]
    [InlineData("jobs: { store: \"postgres://u@h/db\", lock_heartbeat: 500ms }", "jobs.lock_heartbeat", "too short a heartbeat: at least 1s")]
    [InlineData("jobs: { store: \"postgres://u@h/db\", lock_heartbeat: often }", "jobs.lock_heartbeat", "expected a duration")]
    [InlineData("jobs: { store: \"postgres://u@h/db\", lock_heartbeat: 11m }", "jobs.lock_heartbeat", "at most 600")]
    [InlineData("jobs: { store: \"postgres://u@h/db\", lock_retry: 0 }", "jobs.lock_retry", "expected a duration")]
    [InlineData("jobs: { store: \"postgres://u@h/db\", lock_retry: 10ms }", "jobs.lock_retry", "too short a retry delay")]
    [InlineData("jobs: { store: \"postgres://u@h/db\", lock_attempts: 0 }", "jobs.lock_attempts", "expected a whole number from 1 to 1000, got '0'")]
    [InlineData("jobs: { store: \"postgres://u@h/db\", lock_attempts: many }", "jobs.lock_attempts", "expected a whole number")]
    [InlineData("jobs: { store: \"postgres://u:secret@h/db\" }", "jobs.store", "a password in the URL")]
    [InlineData("jobs: { store: \"mysql://u@h/db\" }", "jobs.store", "is not a postgres://USER@HOST:PORT/DB URL")]
    [InlineData("jobs: { store: \"postgres://h/db\" }", "jobs.store", "must name a user and one database")]
    [InlineData("jobs: { store: \"postgres://u@h/db\", checkin: 0 }", "jobs.checkin", "expected a duration")]
    [InlineData("jobs: { store: \"postgres://u@h/db\", checkin: 200ms }", "jobs.checkin", "too short a check-in")]
    [InlineData("jobs: { checkin: 5s }", "jobs.store", "is required")]
    [InlineData("jobs: { store: \"postgres://u@h/db\", password: x }", "jobs.password", "unknown key 'password'")]
    public void A_bad_jobs_value_is_one_line_naming_the_file_line_and_key(string yaml, string key, string message)
    {
        var problem = _temp.SingleProblem(yaml);

        Assert.Equal((1, key), (problem.Line, problem.Key));
        Assert.Contains(message, problem.Message, StringComparison.Ordinal);
        Assert.StartsWith($"{_temp.ConfigPath}:1:", problem.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_password_file_others_may_read_is_refused()
    {
        PasswordFile(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var problem = _temp.SingleProblem("jobs: { store: \"postgres://u@h/db\", password_file: jobs.password }");

        Assert.Equal("jobs.password_file", problem.Key);
        Assert.Contains("chmod 600", problem.Message, StringComparison.Ordinal);
    }
}
