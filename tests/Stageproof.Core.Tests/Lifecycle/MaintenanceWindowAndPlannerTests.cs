using Stageproof.Core.Lifecycle;
using Stageproof.Core.Rollouts;

namespace Stageproof.Core.Tests.Lifecycle;

public sealed class MaintenanceWindowTests
{
    private static DateTimeOffset Utc(string text) => DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture);

    // Saturdays 02:00 for 4 hours; 2026-11-28 is a Saturday.
    private static readonly MaintenanceWindow Saturday = new() { Cron = "0 2 * * 6", Duration = TimeSpan.FromHours(4) };

    [Fact]
    public void Inside_the_window_it_is_open_with_its_opening_and_closing()
    {
        var open = Saturday.OpenAt(Utc("2026-11-28T03:30:00Z"));

        Assert.Equal((Utc("2026-11-28T02:00:00Z"), Utc("2026-11-28T06:00:00Z")), open);
    }

    [Fact]
    public void The_opening_instant_is_inside_and_the_closing_instant_is_outside()
    {
        Assert.NotNull(Saturday.OpenAt(Utc("2026-11-28T02:00:00Z")));
        Assert.Null(Saturday.OpenAt(Utc("2026-11-28T06:00:00Z")));
    }

    [Fact]
    public void Outside_the_window_it_is_closed_and_the_next_opening_is_known()
    {
        var now = Utc("2026-11-25T12:00:00Z");

        Assert.Null(Saturday.OpenAt(now));
        Assert.Equal(Utc("2026-11-28T02:00:00Z"), Saturday.NextOpening(now));
    }

    [Fact]
    public void A_window_across_midnight_is_open_after_midnight()
    {
        var nightly = new MaintenanceWindow { Cron = "0 22 * * *", Duration = TimeSpan.FromHours(4) };

        Assert.Equal((Utc("2026-11-23T22:00:00Z"), Utc("2026-11-24T02:00:00Z")), nightly.OpenAt(Utc("2026-11-24T01:30:00Z")));
        Assert.Null(nightly.OpenAt(Utc("2026-11-24T02:30:00Z")));
        Assert.Equal(Utc("2026-11-24T22:00:00Z"), nightly.NextOpening(Utc("2026-11-24T02:30:00Z")));
    }

    [Fact]
    public void A_window_in_a_zone_with_daylight_saving_opens_at_local_time_in_winter_and_summer()
    {
        var berlin = new MaintenanceWindow { Cron = "0 22 * * *", Duration = TimeSpan.FromHours(4), TimeZone = "Europe/Berlin" };

        // Winter: 22:00 CET is 21:00 UTC.
        Assert.Equal(Utc("2026-01-10T21:00:00Z"), berlin.OpenAt(Utc("2026-01-10T21:30:00Z"))!.Value.Opens);
        Assert.Null(berlin.OpenAt(Utc("2026-01-10T20:30:00Z")));
        // Summer: 22:00 CEST is 20:00 UTC.
        Assert.Equal(Utc("2026-07-10T20:00:00Z"), berlin.OpenAt(Utc("2026-07-10T20:30:00Z"))!.Value.Opens);
        Assert.Null(berlin.OpenAt(Utc("2026-07-11T00:30:00Z")));
        // Across the change (2026-03-29 02:00 CET → 03:00 CEST): the 28th opens in winter time, the 29th in summer time.
        Assert.Equal(Utc("2026-03-28T21:00:00Z"), berlin.NextOpening(Utc("2026-03-28T12:00:00Z")));
        Assert.Equal(Utc("2026-03-29T20:00:00Z"), berlin.NextOpening(Utc("2026-03-29T12:00:00Z")));
    }

    [Fact]
    public void A_six_field_cron_has_seconds()
    {
        var window = new MaintenanceWindow { Cron = "30 0 2 * * 6", Duration = TimeSpan.FromMinutes(10) };

        Assert.Equal(Utc("2026-11-28T02:00:30Z"), window.NextOpening(Utc("2026-11-25T00:00:00Z")));
    }
}

public sealed class RolloutPlannerTests
{
    private static readonly string[] Six = ["h1", "h2", "h3", "h4", "h5", "h6"];

    [Fact]
    public void Six_hosts_canary_one_batch_half_are_one_three_two()
    {
        var plan = RolloutPlanner.Plan(Six, new RolloutPolicy { Canary = 1, Batch = 50, BatchIsPercent = true });

        Assert.Equal([["h1"], ["h2", "h3", "h4"], ["h5", "h6"]], plan.Select(b => b.Hosts.ToArray()));
        Assert.Equal(["canary", "batch 1", "batch 2"], plan.Select(b => b.Name));
        Assert.Equal([0, 1, 2], plan.Select(b => b.Index));
    }

    [Fact]
    public void Batches_of_a_count()
    {
        var plan = RolloutPlanner.Plan(Six, new RolloutPolicy { Canary = 1, Batch = 2, BatchIsPercent = false });

        Assert.Equal([1, 2, 2, 1], plan.Select(b => b.Hosts.Count));
    }

    [Fact]
    public void Without_a_canary_the_first_batch_starts_at_once()
    {
        var plan = RolloutPlanner.Plan(Six, new RolloutPolicy { Canary = 0, Batch = 3, BatchIsPercent = false });

        Assert.Equal([["h1", "h2", "h3"], ["h4", "h5", "h6"]], plan.Select(b => b.Hosts.ToArray()));
        Assert.Equal("batch 1", plan[0].Name);
    }

    [Fact]
    public void A_canary_larger_than_the_environment_takes_every_host_once()
    {
        var plan = RolloutPlanner.Plan(["h1", "h2"], new RolloutPolicy { Canary = 5 });

        var only = Assert.Single(plan);
        Assert.Equal(["h1", "h2"], only.Hosts);
    }

    [Fact]
    public void No_hosts_no_batches()
    {
        Assert.Empty(RolloutPlanner.Plan([], new RolloutPolicy()));
    }
}
