using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Stageproof.Cli;
using Stageproof.Core;

namespace Stageproof.Server.Tests;

/// <summary>
/// Single sign-on over HTTP, through the real OpenID Connect provider (<see cref="TestIdentityProvider"/>): the role
/// follows the provider's groups at each sign-in, a local user's name is not taken over, a scoped mapping gives a
/// scoped user, the console's session cookie does not open the API, and a bad <c>server.oidc</c> stops serve with one
/// line naming file, line and key.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class OidcSignInTests(OidcEstate estate) : IClassFixture<OidcEstate>
{
    /// <summary>A browser-like client (cookies, redirects followed) that signs in at the provider as <paramref name="person"/>.</summary>
    private async Task<(HttpClient Client, HttpStatusCode Status, string Page)> SignInAsync(string person, string returnUrl = "/approvals")
    {
        var client = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = true })
        {
            BaseAddress = estate.BaseAddress, Timeout = TestLoopback.RequestLiveness,
        };
        var login = await client.GetAsync(new Uri("/login/sso?returnUrl=" + Uri.EscapeDataString(returnUrl), UriKind.Relative));
        var form = await login.Content.ReadAsStringAsync();
        Assert.True(login.StatusCode == HttpStatusCode.OK && login.RequestMessage!.RequestUri!.Host == estate.Provider.Authority.Host, form);
        Assert.Contains("Test identity provider", form, StringComparison.Ordinal);
        var fields = HiddenInput().Matches(form).ToDictionary(m => WebUtility.HtmlDecode(m.Groups[1].Value), m => WebUtility.HtmlDecode(m.Groups[2].Value));
        fields["person"] = person;
        var answer = await client.PostAsync(new Uri(estate.Provider.Authority, "connect/authorize"), new FormUrlEncodedContent(fields));
        return (client, answer.StatusCode, await answer.Content.ReadAsStringAsync());
    }

    private async Task<string> PageAsync(HttpClient client, string path)
    {
        var response = await client.GetAsync(new Uri(path, UriKind.Relative));
        return response.RequestMessage!.RequestUri!.AbsolutePath + "\n" + await response.Content.ReadAsStringAsync();
    }

    private async Task<List<JsonElement>> AuditAsync(string who) =>
        JsonDocument.Parse(await estate.CliAsync("--json", "audit", "log")).RootElement.EnumerateArray()
            .Where(e => e.GetProperty("actor").GetString() == who).ToList();

    private async Task<JsonElement?> UserAsync(string name) =>
        JsonDocument.Parse(await estate.CliAsync("--json", "user", "list")).RootElement.EnumerateArray()
            .Select(u => (JsonElement?)u).FirstOrDefault(u => u!.Value.GetProperty("name").GetString() == name);

    private static string Actions(IEnumerable<JsonElement> events) =>
        string.Join(" ", events.Select(e => e.GetProperty("action").GetString()));

    [Fact]
    public async Task The_role_follows_the_providers_groups_at_each_sign_in_and_goes_with_the_last_group()
    {
        estate.Provider.People["olga"] = ["ops", "staff"];
        var (first, status, page) = await SignInAsync("olga");
        Assert.True(status == HttpStatusCode.OK, page);
        Assert.Contains("signed in as olga (operator)", page, StringComparison.Ordinal);
        Assert.Contains("olga (operator)", await PageAsync(first, "/approvals"), StringComparison.Ordinal);

        // The provider moves olga to the approvers; her next sign-in makes her one, and her open session follows at once.
        estate.Provider.People["olga"] = ["patch-approvers"];
        var (second, again, secondPage) = await SignInAsync("olga");
        Assert.True(again == HttpStatusCode.OK, secondPage);
        Assert.Contains("olga (approver)", await PageAsync(second, "/approvals"), StringComparison.Ordinal);
        Assert.Contains("olga (approver)", await PageAsync(first, "/approvals"), StringComparison.Ordinal);

        // With no mapped group left she is refused, and the user single sign-on made goes with every session of hers.
        estate.Provider.People["olga"] = ["staff"];
        var (_, refused, refusal) = await SignInAsync("olga");
        Assert.Equal(HttpStatusCode.Forbidden, refused);
        Assert.Contains("olga has no Stageproof role", refusal, StringComparison.Ordinal);
        Assert.StartsWith("/login", await PageAsync(first, "/approvals"), StringComparison.Ordinal);
        Assert.Null(await UserAsync("olga"));

        var audit = await AuditAsync("olga");
        Assert.Equal("user.add login user.role-changed login user.remove login.refused", Actions(audit));
        Assert.Contains("operator on * -> approver on *", audit[2].GetProperty("outcome").GetString(), StringComparison.Ordinal);
        Assert.All(audit.Where(e => e.GetProperty("action").GetString() == "login"),
            e => Assert.StartsWith("oidc:olga (", e.GetProperty("outcome").GetString(), StringComparison.Ordinal));
        first.Dispose();
        second.Dispose();
    }

    [Fact]
    public async Task A_name_held_by_a_local_password_user_is_refused_and_the_password_login_still_works()
    {
        estate.Provider.People["alice"] = ["ops"];
        var (client, status, page) = await SignInAsync("alice");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("alice is a local Stageproof user with a password; single sign-on does not take over a local account", page, StringComparison.Ordinal);
        var alice = (await UserAsync("alice"))!.Value;
        Assert.Equal("Approver", alice.GetProperty("role").GetString(), ignoreCase: true);
        Assert.False(alice.TryGetProperty("issuer", out _));
        Assert.Equal("login.refused", (await AuditAsync("alice")).Last().GetProperty("action").GetString());

        // The login page offers both; alice's password still logs her in as the approver she is.
        var login = await client.GetStringAsync(new Uri("/login", UriKind.Relative));
        Assert.Contains("Sign in with single sign-on", login, StringComparison.Ordinal);
        var token = AntiforgeryInput().Match(login).Groups[1].Value;
        var answer = await client.PostAsync(new Uri("/login", UriKind.Relative), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["user"] = "alice", ["password"] = OidcEstate.Password, ["returnUrl"] = "/approvals", ["__RequestVerificationToken"] = WebUtility.HtmlDecode(token),
        }));
        Assert.Contains("alice (approver)", await answer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal("password:alice", (await AuditAsync("alice")).Last().GetProperty("outcome").GetString());
        client.Dispose();

        // bob has no password (a CLI and token user): his name is not single sign-on's to take either.
        estate.Provider.People["bob"] = ["patch-approvers"];
        var (bobs, bobStatus, bobPage) = await SignInAsync("bob");
        Assert.Equal(HttpStatusCode.Forbidden, bobStatus);
        Assert.Contains("bob is a local Stageproof user; single sign-on does not take over a local account (an admin removes the local user first)", bobPage, StringComparison.Ordinal);
        Assert.Equal("Operator", (await UserAsync("bob"))!.Value.GetProperty("role").GetString(), ignoreCase: true);
        bobs.Dispose();
    }

    [Fact]
    public async Task A_scoped_mapping_makes_an_approver_of_staging_only()
    {
        estate.Provider.People["sue"] = ["staging-approvers"];
        var (client, status, page) = await SignInAsync("sue");
        Assert.True(status == HttpStatusCode.OK, page);
        var sue = (await UserAsync("sue"))!.Value;
        Assert.Equal("Approver", sue.GetProperty("role").GetString(), ignoreCase: true);
        Assert.Equal(["staging"], sue.GetProperty("environments").EnumerateArray().Select(e => e.GetString()!));
        Assert.Equal("subject-of-sue", sue.GetProperty("subject").GetString());
        // prod is not sue's to read: its stage waits for approvals, yet her queue does not list it.
        Assert.DoesNotContain("data-environment=\"prod\"", await PageAsync(client, "/approvals"), StringComparison.Ordinal);
        client.Dispose();
    }

    [Fact]
    public async Task The_session_single_sign_on_gives_opens_the_console_but_not_the_api()
    {
        estate.Provider.People["ivan"] = ["ops"];
        var (client, status, page) = await SignInAsync("ivan");
        Assert.True(status == HttpStatusCode.OK, page);
        Assert.Contains("ivan (operator)", await PageAsync(client, "/patch-sets"), StringComparison.Ordinal);
        var api = await client.GetAsync(new Uri("/api/v1/me", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);
        client.Dispose();
    }

    [Fact]
    public async Task A_sign_in_never_sends_the_browser_to_another_site_and_a_forged_callback_is_refused()
    {
        estate.Provider.People["ivy"] = ["ops"];
        var (client, status, page) = await SignInAsync("ivy", "//evil.example/approvals");
        Assert.True(status == HttpStatusCode.OK, page);
        Assert.Contains("<meta http-equiv=\"refresh\" content=\"0;url=/\">", page, StringComparison.Ordinal);
        Assert.DoesNotContain("evil.example", page, StringComparison.Ordinal);

        // A callback that no sign-in of this browser started (no correlation cookie, a made-up code) signs nobody in.
        using var stranger = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = estate.BaseAddress };
        var forged = await stranger.GetAsync(new Uri("/signin-oidc?code=made-up&state=made-up", UriKind.Relative));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Contains("Single sign-on failed", await forged.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain(forged.Headers, h => h.Key == "Set-Cookie" && h.Value.Any(v => v.StartsWith("stageproof=", StringComparison.Ordinal)));
        client.Dispose();
    }

    [Fact]
    public async Task A_provider_that_does_not_answer_is_named_on_the_login_page_and_the_password_form_stays()
    {
        var dir = Directory.CreateTempSubdirectory("stageproof-oidc-down-").FullName;
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(IPAddress.Parse("127.0.13.4"), 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        var secret = Path.Combine(dir, "oidc.secret");
        await File.WriteAllTextAsync(secret, "s3cret\n");
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var config = Path.Combine(dir, "stageproof.yaml");
        await File.WriteAllTextAsync(config, $$"""
            server:
              oidc:
                authority: http://127.0.13.4:{{port}}/
                client_id: stageproof
                client_secret_file: oidc.secret
                roles: { ops: operator }
                require_https_metadata: false
            """);
        var options = new ServerOptions { Urls = "http://127.0.13.5:0", ConfigPath = config, StateDirectory = Path.Combine(dir, ".stageproof") };
        var app = await StageproofServer.BuildAsync(options, TimeProvider.System, CancellationToken.None);
        try
        {
            await app.StartAsync();
            var address = new Uri(app.Urls.Single());
            using var client = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = address, Timeout = TestLoopback.RequestLiveness };
            var answer = await client.GetAsync(new Uri("/login/sso?returnUrl=%2Fapprovals", UriKind.Relative));
            var page = await answer.Content.ReadAsStringAsync();
            Assert.Equal("/login", answer.RequestMessage!.RequestUri!.AbsolutePath);
            Assert.Contains($"single sign-on is unavailable: the identity provider http://127.0.13.4:{port}/ did not answer; try again later or log in with a password", WebUtility.HtmlDecode(page), StringComparison.Ordinal);
            Assert.Contains("id=\"password\"", page, StringComparison.Ordinal);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_bad_oidc_key_stops_serve_with_one_line_naming_file_line_and_key()
    {
        var dir = Directory.CreateTempSubdirectory("stageproof-oidc-config-").FullName;
        try
        {
            var secret = Path.Combine(dir, "oidc.secret");
            await File.WriteAllTextAsync(secret, "s3cret\n");
            File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var config = Path.Combine(dir, "stageproof.yaml");

            async Task<string> ServeRefusesAsync(string yaml)
            {
                await File.WriteAllTextAsync(config, yaml);
                var stdout = new StringWriter();
                var stderr = new StringWriter();
                var code = await StageproofCli.RunAsync(["--config", config, "--state", Path.Combine(dir, ".stageproof"), "serve", "--urls", "http://127.0.13.3:0"], stdout, stderr);
                Assert.True(code == ExitCodes.BadInput, $"exit {code}\n{stdout}\n{stderr}");
                return Assert.Single(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
            }

            var typo = await ServeRefusesAsync("""
                server:
                  oidc:
                    authority: https://idp.example/realms/x
                    client_id: stageproof
                    client_secret_file: oidc.secret
                    roles:
                      patch-approvers: approvr
                """);
            Assert.Contains($"{config}:7:", typo, StringComparison.Ordinal);
            Assert.Contains("server.oidc.roles.patch-approvers: 'approvr' is not a role (did you mean 'approver'?)", typo, StringComparison.Ordinal);

            File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
            var shared = await ServeRefusesAsync("""
                server:
                  oidc:
                    authority: https://idp.example/realms/x
                    client_id: stageproof
                    client_secret_file: oidc.secret
                    roles: { ops: operator }
                """);
            Assert.Contains($"{config}:5:", shared, StringComparison.Ordinal);
            Assert.Contains($"server.oidc.client_secret_file: {secret} may be read by others (mode 0640)", shared, StringComparison.Ordinal);
            Assert.False(Directory.Exists(Path.Combine(dir, ".stageproof", "console-keys")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [GeneratedRegex("<input type=\"hidden\" name=\"([^\"]*)\" value=\"([^\"]*)\">")]
    private static partial Regex HiddenInput();

    [GeneratedRegex("name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryInput();
}
