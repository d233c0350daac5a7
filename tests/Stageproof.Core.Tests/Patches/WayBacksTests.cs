using Stageproof.Core.Manifests;
using Stageproof.Core.Patches;

namespace Stageproof.Core.Tests.Patches;

public sealed class WayBacksTests
{
    private static readonly IReadOnlyList<PatchWayBack> Declared =
    [
        new() { Migration = "V5__add_message_folders", How = WayBackHow.Compatible },
        new() { Migration = "V6*", How = WayBackHow.Down, Down = "sql/V6_down.sql", Sql = "DROP INDEX x;" },
        new() { Migration = "sql/0*.sql", How = WayBackHow.Irreversible, Acknowledged = "restore" },
    ];

    [Theory]
    [InlineData("5", "add_message_folders", "V5__add_message_folders")]
    [InlineData("1.2", "add owner", "V1.2__add_owner")]
    [InlineData("2", "add message folders", "V2__add_message_folders")]
    [InlineData("3", "sql/001_owner.sql", "V3__sql/001_owner.sql")]
    [InlineData("R:R__views.sql", "views", "views")]
    [InlineData("7", "", "7")]
    public void A_history_row_is_named_as_its_migration_tool_writes_it(string version, string description, string name) =>
        Assert.Equal(name, WayBacks.Name(new MigrationRecord(version, description, null, true)));

    [Fact]
    public void The_first_declaration_matching_the_name_the_description_or_the_version_wins()
    {
        Assert.Equal(WayBackHow.Compatible, WayBacks.Declared(Declared, new MigrationRecord("5", "add_message_folders", null, true))!.How);
        Assert.Equal(WayBackHow.Down, WayBacks.Declared(Declared, new MigrationRecord("6", "anything", null, true))!.How);
        // Flyway and acme-mail record the description with spaces; the script's name has underscores: either matches.
        Assert.Equal(WayBackHow.Compatible, WayBacks.Declared(Declared, new MigrationRecord("5", "add message folders", null, true))!.How);
        Assert.Equal(WayBackHow.Compatible, WayBacks.Declared([new() { Migration = "add message*", How = WayBackHow.Compatible }],
            new MigrationRecord("5", "add message folders", null, true))!.How);
        // Stageproof's own history: version is the installed rank, the description the script.
        Assert.Equal(WayBackHow.Irreversible, WayBacks.Declared(Declared, new MigrationRecord("3", "sql/001_owner.sql", null, true))!.How);
        Assert.Null(WayBacks.Declared(Declared, new MigrationRecord("8", "archive", null, true)));
        Assert.Null(WayBacks.Declared(null, new MigrationRecord("5", "add_message_folders", null, true)));
    }

    [Fact]
    public void Added_migrations_are_those_the_point_lacks_and_down_scripts_run_newest_first_once_each()
    {
        var before = new List<MigrationRecord> { new("4", "base", "a", true) };
        var now = new List<MigrationRecord>
        {
            new("4", "base", "a", true), new("5", "add_message_folders", "b", true), new("6", "one", "c", true),
            new("7", "archive", "d", true), new("60", "x", "e", true),
        };
        var added = WayBacks.Added("mail", before, now, Declared);
        Assert.Equal(["V5__add_message_folders (mail): compatible", "V6__one (mail): down", "V7__archive (mail): undeclared", "V60__x (mail): down"],
            added.Select(a => a.ToString()));
        var downs = WayBacks.DownScripts(added, Declared);
        var (declaration, migrations) = Assert.Single(downs);
        Assert.Equal("sql/V6_down.sql", declaration.Down);
        Assert.Equal(["V6__one", "V60__x"], migrations);
        Assert.Contains("way_back: [{ migration: \"V7__archive\", how: down", WayBacks.HowToDeclare("V7__archive"), StringComparison.Ordinal);
    }
}
