using Stageproof.Core.Stage;

namespace Stageproof.Core.Tests.Stage;

public class DataContinuityTests
{
    [Fact]
    public void Only_net_losses_of_tables_counted_at_the_point_are_reported_and_declared_globs_match_schema_or_bare_names()
    {
        var losses = DataContinuity.Losses("mail",
        [
            new TableRows("public.messages", 20000, 18000),
            new TableRows("public.sessions", 10, 250),       // grew: the load logged in
            new TableRows("public.new_table", null, 5),      // created since the point
            new TableRows("public.empty", 0, 0),
            new TableRows("audit.events", 100, 40),
            new TableRows("public.archive_2019", 7, null),   // dropped
        ], ["archive_*", "audit.*"]);

        Assert.Equal(["audit.events", "public.archive_2019", "public.messages"], losses.Select(l => l.Table));
        Assert.Equal([true, true, false], losses.Select(l => l.Declared));
        var messages = losses[2];
        Assert.Equal((2000L, 0.1), (messages.Lost, messages.Fraction));
        Assert.Equal("mail public.messages: 20000 row(s) at the rollback point, 18000 now: 2000 lost (10%)", messages.ToString());
        Assert.True(losses[1].Dropped);
    }
}
