using Stageproof.Core.Configuration;
using Stageproof.Core.Drift;
using Stageproof.Core.Manifests;

namespace Stageproof.Core.Tests.Drift;

public class EnvironmentDriftTests
{
    private static readonly DriftRules NoRules = new() { Ignore = [], MinFidelity = 0.98 };

    [Fact]
    public void The_single_staging_host_of_a_role_is_compared_with_every_prod_host_of_it_and_a_missing_role_is_reported()
    {
        Manifest[] prod = [Samples.Host("prod-app-2"), Samples.Host("prod-app-1"), Samples.Host("prod-db-1", role: "db")];
        Manifest[] staging = [Samples.Host("stage-app-1", environment: "staging")];

        var drift = DriftEngine.CompareEnvironments("prod", prod, "staging", staging, NoRules);

        Assert.Equal("prod", drift.Left);
        Assert.Equal("staging", drift.Right);
        Assert.Equal([("app", "prod-app-1", "stage-app-1"), ("app", "prod-app-2", "stage-app-1")],
            drift.Hosts.Select(p => (p.Role, p.Left, p.Right)));
        Assert.All(drift.Hosts, p => Assert.Empty(p.Drift.Items));
        var missing = Assert.Single(drift.Items);
        Assert.Equal((DriftCategory.HostMissing, "db", "prod-db-1", null, DriftSeverity.High, DriftSide.Right),
            (missing.Category, missing.Key, missing.Left, missing.Right, missing.Severity, missing.MissingOn));
        // Two pairs of 33 equal items each, plus roles: app matches, db does not.
        Assert.Equal((2, 1), (drift.Figures(DriftFamily.Host).Compared, drift.Figures(DriftFamily.Host).Matching));
        Assert.Equal(66 + 2, drift.Compared);
        Assert.Equal(66 + 1, drift.Matching);
        Assert.Equal(67.0 / 68, drift.Fidelity, 10);
        // A missing role is one compared item, so on its own it stays above 0.98; its severity is what flags it.
        Assert.False(drift.BelowThreshold(NoRules.MinFidelity));
        Assert.True(drift.BelowThreshold(0.99));
        Assert.Equal(DriftSeverity.High, drift.MaxSeverity);
    }

    [Fact]
    public void When_the_smaller_side_has_several_hosts_they_are_taken_in_turn()
    {
        Manifest[] left = [Samples.Host("a1"), Samples.Host("a2"), Samples.Host("a3")];
        Manifest[] right = [Samples.Host("b2"), Samples.Host("b1")];

        var drift = DriftEngine.CompareEnvironments("l", left, "r", right, NoRules);

        Assert.Equal([("a1", "b1"), ("a2", "b2"), ("a3", "b1")], drift.Hosts.Select(p => (p.Left, p.Right)));
        Assert.Equal(1.0, drift.Fidelity);
        Assert.False(drift.BelowThreshold(0.98));
    }

    [Fact]
    public void Hosts_without_a_role_pair_under_default()
    {
        var drift = DriftEngine.CompareEnvironments("l", [Samples.Host("x", role: null)], "r", [Samples.Host("y", role: "")], NoRules);

        var pair = Assert.Single(drift.Hosts);
        Assert.Equal((DriftEngine.DefaultRole, "x", "y"), (pair.Role, pair.Left, pair.Right));
        Assert.Empty(drift.Items);
    }

    [Fact]
    public void Figures_and_categories_are_summed_over_pairs()
    {
        Manifest[] prod = [Samples.Host("prod-app-1"), Samples.Host("prod-app-2")];
        Manifest[] staging = [Samples.Host("stage-app-1").WithPackage("acme-mail", "1.1-1")];

        var drift = DriftEngine.CompareEnvironments("prod", prod, "staging", staging, NoRules);

        Assert.Equal([new CategoryCount(DriftCategory.PackageVersion, 2)], drift.Categories);
        Assert.Equal((40, 38), (drift.Figures(DriftFamily.Package).Compared, drift.Figures(DriftFamily.Package).Matching));
        Assert.Equal((66 + 1 - 2) / 67.0, drift.Fidelity, 10);
    }

    [Fact]
    public void Databases_pair_by_name_and_a_missing_database_is_an_item()
    {
        Manifest[] prod = [Samples.Host("prod-app-1"), Samples.Database("prod", "mail"), Samples.Database("prod", "billing")];
        var stagingMail = Samples.Database("staging", "mail");
        stagingMail = stagingMail with
        {
            Database = stagingMail.Database! with
            {
                Schema = stagingMail.Database.Schema with
                {
                    Objects = [.. stagingMail.Database.Schema.Objects, new SchemaObject("index", "public.mailbox_owner_idx", "CREATE INDEX ...")],
                },
            },
        };
        Manifest[] staging = [Samples.Host("stage-app-1"), stagingMail];

        var drift = DriftEngine.CompareEnvironments("prod", prod, "staging", staging, NoRules);

        Assert.Single(drift.Hosts);
        var pair = Assert.Single(drift.Databases);
        Assert.Equal(("mail", "prod/mail", "staging/mail"), (pair.Database, pair.Left, pair.Right));
        Assert.Equal("index:public.mailbox_owner_idx", Assert.Single(pair.Drift.Items).Key);
        var missing = Assert.Single(drift.Items);
        Assert.Equal((DriftCategory.DatabaseMissing, "billing", "prod/billing", null), (missing.Category, missing.Key, missing.Left, missing.Right));
        Assert.Equal((2, 1), (drift.Figures(DriftFamily.Database).Compared, drift.Figures(DriftFamily.Database).Matching));
    }

    [Fact]
    public void An_ignored_role_is_neither_paired_nor_reported()
    {
        Manifest[] prod = [Samples.Host("prod-app-1"), Samples.Host("prod-db-1", role: "db")];
        Manifest[] staging = [Samples.Host("stage-app-1")];

        var drift = DriftEngine.CompareEnvironments("prod", prod, "staging", staging, new DriftRules { Ignore = ["host:db"] });

        Assert.Empty(drift.Items);
        Assert.Equal(1, drift.Figures(DriftFamily.Host).Ignored);
        Assert.Equal(1.0, drift.Fidelity);
    }

    [Fact]
    public void Empty_environments_have_fidelity_one()
    {
        var drift = DriftEngine.CompareEnvironments("a", [], "b", [], NoRules);

        Assert.Equal(1.0, drift.Fidelity);
        Assert.Empty(drift.Hosts);
        Assert.Empty(drift.Items);
    }
}
