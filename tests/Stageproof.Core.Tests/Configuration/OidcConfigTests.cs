using Stageproof.Core.Lifecycle;

namespace Stageproof.Core.Tests.Configuration;

public sealed class OidcConfigTests : IDisposable
{
    private readonly TempConfig _temp = new();

    public void Dispose() => _temp.Dispose();

    private const string Environments = """
        hosts:
          stage-1: { transport: local }
        environments:
          staging: { hosts: [stage-1] }

        """;

    private void Secret(UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        var path = _temp.Write("oidc.secret", "the client secret\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, mode);
        }
    }

    [Fact]
    public void Both_mapping_forms_are_read_with_the_secret_and_the_defaults()
    {
        Secret();
        var config = _temp.Load(Environments + """
            server:
              oidc:
                authority: https://idp.example/realms/x
                client_id: stageproof
                client_secret_file: oidc.secret
                roles:
                  patch-approvers: approver
                  ops: operator
                  staging-admins: { role: admin, environments: [staging] }
            """);

        var oidc = config.Server.Oidc!;
        Assert.Equal(new Uri("https://idp.example/realms/x"), oidc.Authority);
        Assert.Equal(("stageproof", "the client secret", Path.Combine(_temp.Directory, "oidc.secret")), (oidc.ClientId, oidc.ClientSecret, oidc.ClientSecretFile));
        Assert.Equal(("groups", "preferred_username", true), (oidc.RoleClaim, oidc.NameClaim, oidc.RequireHttpsMetadata));
        Assert.Equal((Role.Approver, "*"), (oidc.Roles["patch-approvers"].Role, string.Join(",", oidc.Roles["patch-approvers"].Environments)));
        Assert.Equal(["staging"], oidc.Roles["staging-admins"].Environments);
        Assert.DoesNotContain("the client secret", oidc.ToString() + System.Text.Json.JsonSerializer.Serialize(config.Server), StringComparison.Ordinal);
    }

    [Fact]
    public void The_highest_mapped_role_wins_on_the_environments_of_the_values_giving_it()
    {
        Secret();
        var oidc = _temp.Load(Environments + """
            server:
              oidc:
                authority: https://idp.example/realms/x
                client_id: stageproof
                client_secret_file: oidc.secret
                role_claim: roles
                name_claim: email_local
                roles:
                  ops: operator
                  patch-approvers: approver
                  staging-approvers: { role: approver, environments: [staging] }
            """).Server.Oidc!;

        Assert.Equal(("roles", "email_local"), (oidc.RoleClaim, oidc.NameClaim));
        var both = oidc.RoleFor(["ops", "staging-approvers", "staff"])!;
        Assert.Equal((Role.Approver, "staging"), (both.Role, string.Join(",", both.Environments)));
        Assert.Equal(["*"], oidc.RoleFor(["staging-approvers", "patch-approvers"])!.Environments);
        Assert.Equal(Role.Operator, oidc.RoleFor(["ops"])!.Role);
        Assert.Null(oidc.RoleFor(["staff", "interns"]));
        Assert.Null(oidc.RoleFor([]));
    }

    [Fact]
    public void A_misspelt_role_is_refused_at_its_line_with_a_suggestion()
    {
        Secret();
        var problem = _temp.SingleProblem("""
            server:
              oidc:
                authority: https://idp.example/realms/x
                client_id: stageproof
                client_secret_file: oidc.secret
                roles:
                  ops: operater
            """);

        Assert.Equal((7, "server.oidc.roles.ops"), (problem.Line, problem.Key));
        Assert.Equal("'operater' is not a role (did you mean 'operator'?)", problem.Message);
    }

    [Fact]
    public void A_secret_others_may_read_is_refused_naming_its_mode()
    {
        Secret(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var problem = _temp.SingleProblem("""
            server:
              oidc:
                authority: https://idp.example/realms/x
                client_id: stageproof
                client_secret_file: oidc.secret
                roles: { ops: operator }
            """);

        Assert.Equal((5, "server.oidc.client_secret_file"), (problem.Line, problem.Key));
        Assert.StartsWith($"{Path.Combine(_temp.Directory, "oidc.secret")} may be read by others (mode 0604); a client secret must be its owner's alone", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Plain_http_needs_require_https_metadata_false()
    {
        Secret();
        const string Oidc = """
            server:
              oidc:
                authority: http://127.0.13.2:8080/
                client_id: stageproof
                client_secret_file: oidc.secret
                roles: { ops: operator }

            """;
        var problem = _temp.SingleProblem(Oidc);
        Assert.Equal((3, "server.oidc.authority"), (problem.Line, problem.Key));
        Assert.Contains("is not https://", problem.Message, StringComparison.Ordinal);

        Assert.False(_temp.Load(Oidc + "    require_https_metadata: false\n").Server.Oidc!.RequireHttpsMetadata);
    }

    [Fact]
    public void Unknown_keys_missing_keys_bad_values_and_unknown_environments_are_each_refused_at_their_lines()
    {
        Secret();
        var problems = _temp.Problems(Environments + """
            server:
              oidc:
                authority: "not a url"
                client_secret: inline
                require_https_metadata: maybe
                role_claim: "two words"
                roles:
                  ops: { role: operator, environments: [stagign] }
                  auditors: { environments: [staging] }
            """);

        var found = problems.Select(p => (p.Line, p.Key)).ToList();
        Assert.Contains((7, "server.oidc.authority"), found);
        Assert.Contains((8, "server.oidc.client_secret"), found);
        Assert.Contains((9, "server.oidc.require_https_metadata"), found);
        Assert.Contains((10, "server.oidc.role_claim"), found);
        Assert.Contains((12, "server.oidc.roles.ops.environments[0]"), found);
        Assert.Contains((13, "server.oidc.roles.auditors.role"), found);
        Assert.Contains((7, "server.oidc.client_id"), found);
        Assert.Contains((7, "server.oidc.client_secret_file"), found);
        Assert.Contains(problems, p => p.Key == "server.oidc.client_secret" && p.Message.Contains("unknown key 'client_secret' (known keys: authority, client_id, client_secret_file,", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Key == "server.oidc.roles.ops.environments[0]" && p.Message.Contains("did you mean 'staging'?", StringComparison.Ordinal));
    }

    [Fact]
    public void A_configuration_without_server_has_no_single_sign_on()
    {
        Assert.Null(_temp.Load(Environments).Server.Oidc);
        Assert.Null(_temp.Load(Environments + "server:\n  oidc:\n").Server.Oidc);
    }
}
