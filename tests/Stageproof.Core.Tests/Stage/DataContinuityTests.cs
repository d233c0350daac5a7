using Stageproof.Core.Checks;
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

    private static CheckResult Row(params (string Column, string? Value)[] values) => new()
    {
        Name = "mail-content", Type = "sql", Target = "staging/mail", Status = CheckStatus.Passed, Message = "",
        Values = values.ToDictionary(v => v.Column, v => v.Value),
    };

    [Fact]
    public void A_continuity_measure_may_grow_may_fall_within_its_rule_and_must_keep_its_other_values()
    {
        var check = new SqlCheck { Name = "mail-content", Database = "mail", Query = "q", Continuity = new ContinuityRule { MaxLoss = 0.1 } };
        var atPoint = Row(("messages", "20000"), ("bytes", "1000000"), ("digest", "abc"), ("oldest", null));

        Assert.Empty(DataContinuity.ValueLosses(check, atPoint, Row(("messages", "20050"), ("bytes", "910000"), ("digest", "abc"), ("oldest", null)), []));

        var losses = DataContinuity.ValueLosses(check, atPoint, Row(("messages", "20000"), ("bytes", "880000"), ("digest", "abd"), ("oldest", "2019-01-01")), []);
        Assert.Equal(["bytes", "digest", "oldest"], losses.Select(l => l.Column));
        Assert.Equal("mail-content (mail) bytes: 1000000 at the rollback point, 880000 now: fell 12% (at most 10%)", losses[0].ToString());
        Assert.Equal("mail-content (mail) oldest: NULL at the rollback point, \"2019-01-01\" now", losses[2].ToString());

        var gone = Assert.Single(DataContinuity.ValueLosses(check, atPoint, Row(("messages", "20000")) with { Values = null, Status = CheckStatus.Failed, Message = "query failed: 42P01" }, ["mail-*"]));
        Assert.Equal("mail-content (mail): query failed: 42P01 (declared by the set's data_loss)", gone.ToString());
        Assert.Empty(DataContinuity.ValueLosses(check, atPoint with { Values = null }, atPoint, []));
    }
}
