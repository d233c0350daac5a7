namespace Stageproof.Core.Tests.Configuration;

public sealed class EnvironmentsAndGroupsTests : IDisposable
{
    private const string FourHosts = """
        hosts:
          app-1: { address: 127.0.0.11, role: app }
          app-2: { address: 127.0.0.12, role: app }
          db-1: { address: 127.0.0.21, role: db }
          stage-1: { address: 127.0.0.31, role: app }

        """;

    private readonly TempConfig _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Environment_hosts_expand_groups_in_order_without_duplicates()
    {
        var config = _temp.Load(FourHosts + """
            groups:
              app: [app-1, app-2]
              everything: [db-1, app, app-1]
            environments:
              prod:
                hosts: [app-2, everything]
            """);

        Assert.Equal(["app-2", "db-1", "app-1"], config.Environment("prod").Hosts);
        Assert.Equal(["app-1", "app-2"], config.Groups["app"]);
        Assert.Equal(["db-1", "app-1", "app-2"], config.Groups["everything"]);
        Assert.Equal(["app-2", "db-1", "app-1"], config.HostsOf("prod").Select(h => h.Name));
    }

    [Fact]
    public void Every_environment_key_is_read()
    {
        var config = _temp.Load(FourHosts + """
            environments:
              prod:
                hosts: [app-1]
                databases: { mail: "Host=127.0.10.5;Database=mail" }
                checks: mail-suite
              staging:
                hosts: [stage-1]
                mirror_of: prod
            checks:
              mail-suite: []
            """);

        var prod = config.Environment("prod");
        Assert.Equal("Host=127.0.10.5;Database=mail", prod.Databases["mail"]);
        Assert.Equal("mail-suite", prod.Checks);
        Assert.Equal("prod", config.Environment("staging").MirrorOf);
        Assert.Null(prod.MirrorOf);
    }

    [Fact]
    public void A_group_cycle_is_reported_at_the_reference_that_closes_it()
    {
        var problem = _temp.SingleProblem(FourHosts + """
            groups:
              a: [app-1, b]
              b: [c]
              c: [a]
            """);

        Assert.Equal((9, 7), (problem.Line, problem.Column));
        Assert.Equal("groups.c[0]", problem.Key);
        Assert.Equal("groups form a cycle: a → b → c → a", problem.Message);
    }

    [Fact]
    public void A_group_that_contains_itself_is_a_cycle()
    {
        var problem = _temp.SingleProblem(FourHosts + "groups:\n  a: [a]\n");
        Assert.Equal("groups form a cycle: a → a", problem.Message);
    }

    [Fact]
    public void Unknown_names_in_groups_and_environments_are_reported_with_suggestions()
    {
        var problems = _temp.Problems(FourHosts + """
            groups:
              app: [app-1, app-3]
            environments:
              prod:
                hosts: [ap, db-2, nothing-like-it]
            """);

        Assert.Equal(["groups.app[1]", "environments.prod.hosts[0]", "environments.prod.hosts[1]", "environments.prod.hosts[2]"],
            problems.Select(p => p.Key));
        Assert.Equal("unknown host or group 'app-3' (did you mean 'app-1'?)", problems[0].Message);
        Assert.Equal("unknown host or group 'ap' (did you mean 'app'?)", problems[1].Message);
        Assert.Equal("unknown host or group 'db-2' (did you mean 'db-1'?)", problems[2].Message);
        Assert.Equal("unknown host or group 'nothing-like-it'", problems[3].Message);
        Assert.Equal((10, 17), (problems[2].Line, problems[2].Column));
    }

    [Fact]
    public void A_group_named_like_a_host_is_ambiguous()
    {
        var problem = _temp.SingleProblem(FourHosts + "groups:\n  app-1: [app-2]\n");
        Assert.Contains("same name as a host", problem.Message);
    }

    [Fact]
    public void An_environment_cannot_mirror_itself_or_an_unknown_one()
    {
        var problems = _temp.Problems(FourHosts + """
            environments:
              prod: { hosts: [app-1], mirror_of: prod }
              staging: { hosts: [stage-1], mirror_of: prd }
            """);

        Assert.Equal("environment 'prod' cannot be a mirror of itself", problems[0].Message);
        Assert.Equal("environments.prod.mirror_of", problems[0].Key);
        Assert.Equal("unknown environment 'prd' (did you mean 'prod'?)", problems[1].Message);
        Assert.Equal((8, 43), (problems[1].Line, problems[1].Column));
    }

    [Fact]
    public void A_control_is_read_and_must_be_another_known_environment_with_as_many_hosts()
    {
        var config = _temp.Load(FourHosts + """
            groups:
              staging-app: [stage-1, app-2]
            environments:
              staging: { hosts: [staging-app] , control: twins }
              twins: { hosts: [app-1, db-1] }
            """);
        Assert.Equal("twins", config.Environment("staging").Control);
        Assert.Null(config.Environment("twins").Control);

        var problems = _temp.Problems(FourHosts + """
            environments:
              prod: { hosts: [app-1], control: prod }
              staging: { hosts: [stage-1], control: prd }
              qa: { hosts: [app-2, db-1], control: prod }
            """);
        Assert.Equal(3, problems.Count);
        Assert.Equal("environment 'prod' cannot be its own control", problems[0].Message);
        Assert.Equal("environments.prod.control", problems[0].Key);
        Assert.Equal("unknown environment 'prd' (did you mean 'prod'?)", problems[1].Message);
        Assert.Equal("environments.staging.control", problems[1].Key);
        Assert.Equal("control 'prod' has 1 host(s) and 'qa' 2: a control pairs one twin with each host, in order", problems[2].Message);
        Assert.Equal((9, 40), (problems[2].Line, problems[2].Column));
    }

    [Fact]
    public void Environments_mirroring_each_other_form_a_cycle()
    {
        var problems = _temp.Problems(FourHosts + """
            environments:
              qa: { hosts: [app-1], mirror_of: staging }
              staging: { hosts: [stage-1], mirror_of: qa }
            """);

        Assert.Equal(2, problems.Count);
        Assert.Equal("mirror_of forms a cycle: qa → staging → qa", problems[0].Message);
    }

    [Fact]
    public void A_check_suite_must_exist()
    {
        var problems = _temp.Problems(FourHosts + """
            environments:
              prod: { hosts: [app-1], checks: mail-suit }
              qa: { hosts: [app-2], checks: other }
            checks:
              mail-suite: []
            """);

        Assert.Equal("unknown check suite 'mail-suit' (did you mean 'mail-suite'?)", problems[0].Message);
        Assert.Equal("unknown check suite 'other' (known: mail-suite)", problems[1].Message);
    }

    [Fact]
    public void An_environment_needs_hosts_and_non_empty_connection_strings()
    {
        var problems = _temp.Problems(FourHosts + """
            environments:
              prod:
                databases: { mail: "", "bad name": "Host=x" }
              qa:
                hosts: []
            """);

        Assert.Equal(
            ["environments.prod.hosts", "environments.prod.databases.mail", "environments.prod.databases.bad name", "environments.qa.hosts"],
            problems.Select(p => p.Key));
    }

    [Theory]
    [InlineData("\"prod;id\"")]
    [InlineData("\"$(id)\"")]
    [InlineData("\"prod\\n\"")]
    public void Hostile_environment_names_are_rejected(string name)
    {
        var problem = _temp.SingleProblem(FourHosts + $"environments:\n  {name}: {{ hosts: [app-1] }}\n");
        Assert.Contains("environment name", problem.Message);
    }
}
