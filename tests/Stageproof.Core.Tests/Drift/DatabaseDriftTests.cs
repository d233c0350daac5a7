using Stageproof.Core.Configuration;
using Stageproof.Core.Drift;
using Stageproof.Core.Manifests;

namespace Stageproof.Core.Tests.Drift;

public class DatabaseDriftTests
{
    private static readonly DriftRules NoRules = new() { Ignore = [] };

    private static Manifest With(Manifest m, Func<DatabaseInfo, DatabaseInfo> change) => m with { Database = change(m.Database!) };

    private static Manifest WithObjects(Manifest m, Func<IReadOnlyList<SchemaObject>, IEnumerable<SchemaObject>> change) =>
        With(m, db => db with { Schema = db.Schema with { Objects = change(db.Schema.Objects).ToList() } });

    [Fact]
    public void Identical_databases_have_no_items()
    {
        var drift = DriftEngine.Compare(Samples.Database("prod"), Samples.Database("staging"), NoRules);

        Assert.Empty(drift.Items);
        // server_version + 3 settings, 4 objects, 2 migrations.
        Assert.Equal((4, 4, 2), (drift.Figures(DriftFamily.Setting).Compared, drift.Figures(DriftFamily.Schema).Compared, drift.Figures(DriftFamily.Migration).Compared));
        Assert.Equal(1.0, drift.Fidelity);
    }

    [Fact]
    public void An_extra_index_is_one_schema_object_item_naming_it()
    {
        var staging = WithObjects(Samples.Database("staging"),
            o => o.Append(new SchemaObject("index", "public.mailbox_owner_idx", "CREATE INDEX mailbox_owner_idx ON public.mailbox (owner)")));

        var drift = DriftEngine.Compare(Samples.Database("prod"), staging, NoRules);

        var item = Assert.Single(drift.Items);
        Assert.Equal(DriftCategory.SchemaObject, item.Category);
        Assert.Equal("index:public.mailbox_owner_idx", item.Key);
        Assert.Null(item.Left);
        Assert.Equal(DriftSide.Left, item.MissingOn);
        Assert.Equal(DriftSeverity.High, item.Severity);
        Assert.Equal((5, 4), (drift.Figures(DriftFamily.Schema).Compared, drift.Figures(DriftFamily.Schema).Matching));
    }

    [Fact]
    public void A_changed_definition_is_a_schema_object_item()
    {
        var staging = WithObjects(Samples.Database("staging"),
            o => o.Select(x => x.Name == "public.mailbox.owner" ? x with { Definition = "text" } : x));

        var item = Assert.Single(DriftEngine.Compare(Samples.Database("prod"), staging, NoRules).Items);

        Assert.Equal((DriftCategory.SchemaObject, "column:public.mailbox.owner", "text not null", "text"), (item.Category, item.Key, item.Left, item.Right));
    }

    [Fact]
    public void A_changed_setting_is_a_db_setting_item()
    {
        var staging = With(Samples.Database("staging"), db => db with
        {
            Settings = new SortedDictionary<string, string>(StringComparer.Ordinal)
            {
                ["max_connections"] = "100",
                ["shared_buffers"] = "256MB",
                ["work_mem"] = "8MB",
            },
        });

        var drift = DriftEngine.Compare(Samples.Database("prod"), staging, NoRules);

        var item = Assert.Single(drift.Items);
        Assert.Equal((DriftCategory.DbSetting, "max_connections", "200", "100", DriftSeverity.Medium), (item.Category, item.Key, item.Left, item.Right, item.Severity));
        Assert.Equal((4, 3), (drift.Figures(DriftFamily.Setting).Compared, drift.Figures(DriftFamily.Setting).Matching));
    }

    [Fact]
    public void A_setting_on_one_side_only_shows_default_on_the_other()
    {
        var staging = With(Samples.Database("staging"), db => db with
        {
            Settings = new SortedDictionary<string, string>(db.Settings.ToDictionary(), StringComparer.Ordinal) { ["fsync"] = "off" },
        });

        var item = Assert.Single(DriftEngine.Compare(Samples.Database("prod"), staging, NoRules).Items);

        Assert.Equal(("fsync", "(default)", "off"), (item.Key, item.Left, item.Right));
    }

    [Fact]
    public void Server_version_is_high_across_majors_and_low_within_one()
    {
        var minor = DriftEngine.Compare(Samples.Database("prod"), With(Samples.Database("staging"), db => db with { ServerVersion = "16.6" }), NoRules);
        var major = DriftEngine.Compare(Samples.Database("prod"), With(Samples.Database("staging"), db => db with { ServerVersion = "17.2" }), NoRules);

        Assert.Equal(("server_version", DriftSeverity.Low), (Assert.Single(minor.Items).Key, minor.Items[0].Severity));
        Assert.Equal(("server_version", DriftSeverity.High), (Assert.Single(major.Items).Key, major.Items[0].Severity));
    }

    [Fact]
    public void Migration_history_differences_are_migration_items()
    {
        var staging = With(Samples.Database("staging"), db => db with
        {
            Schema = db.Schema with
            {
                Migrations =
                [
                    new MigrationRecord("001", "create mailbox", "c1", true),
                    new MigrationRecord("002", "mailbox owner", "c2", false),
                    new MigrationRecord("003", "quota", "c3", true),
                ],
            },
        });

        var drift = DriftEngine.Compare(Samples.Database("prod"), staging, NoRules);

        Assert.Equal(["002", "003"], drift.Items.Select(i => i.Key));
        Assert.All(drift.Items, i => Assert.Equal((DriftCategory.Migration, DriftSeverity.High), (i.Category, i.Severity)));
        Assert.Contains("failed", drift.Items[0].Right, StringComparison.Ordinal);
        Assert.Equal(DriftSide.Left, drift.Items[1].MissingOn);
    }

    [Fact]
    public void Schema_ignore_rules_match_the_key_or_the_object_name()
    {
        var staging = WithObjects(Samples.Database("staging"), o => o
            .Append(new SchemaObject("table", "public.tmp_import", "CREATE TABLE public.tmp_import ()"))
            .Append(new SchemaObject("index", "public.tmp_import_idx", "CREATE INDEX ...")));

        var drift = DriftEngine.Compare(Samples.Database("prod"), staging, new DriftRules { Ignore = ["schema:public.tmp_*", "schema:index:*"] });

        Assert.Empty(drift.Items);
        Assert.Equal(2, drift.Figures(DriftFamily.Schema).Ignored);
    }
}
