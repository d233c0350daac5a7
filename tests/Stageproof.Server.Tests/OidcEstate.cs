namespace Stageproof.Server.Tests;

/// <summary>
/// The server estate with single sign-on: a <see cref="TestIdentityProvider"/> on 127.0.13.2 and the server on
/// 127.0.13.1 configured with <c>server.oidc</c> (patch-approvers → approver, ops → operator, staging-approvers →
/// approver of staging). alice, a local approver, also has a console password.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class OidcEstate() : ServerEstate("http://127.0.13.1:0")
{
    public const string Password = "a console password of some length";

    public TestIdentityProvider Provider { get; private set; } = null!;

    protected override string Config => base.Config + $$"""

        server:
          oidc:
            authority: {{Provider.Authority}}
            client_id: {{TestIdentityProvider.ClientId}}
            client_secret_file: oidc.secret
            roles:
              patch-approvers: approver
              ops: operator
              staging-approvers: { role: approver, environments: [staging] }
            require_https_metadata: false
        """;

    public override async Task InitializeAsync()
    {
        Provider = await TestIdentityProvider.StartAsync("127.0.13.2");
        var secret = Path.Combine(Dir, "oidc.secret");
        await File.WriteAllTextAsync(secret, TestIdentityProvider.ClientSecret + "\n");
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await base.InitializeAsync();
        Provider.RedirectUri = new Uri(BaseAddress, "/signin-oidc").ToString();
    }

    protected override async Task PrepareAsync()
    {
        var file = Path.Combine(Dir, "password");
        await File.WriteAllTextAsync(file, Password);
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await CliAsync("user", "password", "alice", "--password-file", file);
    }

    public override async Task DisposeAsync()
    {
        try
        {
            await base.DisposeAsync();
        }
        finally
        {
            if (Provider is not null)
            {
                await Provider.DisposeAsync();
            }
        }
    }
}
