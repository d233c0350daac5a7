using Stageproof.Core;
using Stageproof.Testing;

namespace Stageproof.Cli.Tests;

/// <summary>
/// A patch set for one role (<c>roles: [proxy]</c>) on a staging of two app hosts and a proxy, each a tiny root of its
/// own (<c>transport: chroot</c>): apply, rollback and the rollout plan touch the proxy alone; a chosen app host or an
/// environment without the role is refused (exit 2) and nothing changes.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class RoleTargetedPatchCliTests : IDisposable
{
    private const string Tuning = "/etc/proxy-tuning.conf";

    private readonly Scratch _scratch = new();
    private readonly List<TinyRoot> _roots = [];

    private static readonly string[] Hosts = ["app-1", "app-2", "proxy-1"];

    public void Dispose()
    {
        foreach (var root in _roots)
        {
            root.Dispose();
        }
        _scratch.Dispose();
    }

    private async Task<string> EstateAsync()
    {
        TinyRoot.Require();
        foreach (var _ in Hosts)
        {
            _roots.Add(await TinyRoot.PatchableHostAsync());
        }
        _scratch.Write("stageproof.yaml", $$"""
            hosts:
              app-1: { transport: chroot, root: {{_roots[0].Path}}, role: app }
              app-2: { transport: chroot, root: {{_roots[1].Path}}, role: app }
              proxy-1: { transport: chroot, root: {{_roots[2].Path}}, role: proxy }
            environments:
              staging: { hosts: [app-1, app-2, proxy-1] }
              apps: { hosts: [app-1, app-2] }
            lifecycle:
              stages:
                - environment: staging
                  rollout: { canary: 1, batch: 2 }
            """);
        var set = _scratch.Write("proxy.yaml", $$"""
            id: PROXY-1
            title: a longer read timeout for the proxies
            reason: slow mailbox exports time out at the proxy
            severity: medium
            author: alice
            roles: [proxy]
            files:
              - { path: {{Tuning}}, content: "proxy_read_timeout 120s;\n", mode: "0644" }
            """);
        await CliRun.ApproversAsync(_scratch);
        var freeze = await CliRun.InAsync(_scratch.Dir, "--json", "patch", "freeze", set);
        Assert.True(freeze.ExitCode == ExitCodes.Ok, freeze.ToString());
        return freeze.Json.GetProperty("digest").GetString()!;
    }

    private bool Has(string host) => File.Exists(_roots[Array.IndexOf(Hosts, host)].Path + Tuning);

    private async Task<int> AuditCountAsync() => (await CliRun.InAsync(_scratch.Dir, "--json", "audit", "log")).Json.GetArrayLength();

    [SkippableFact]
    public async Task A_set_for_the_proxies_is_applied_planned_and_rolled_back_on_the_proxy_alone()
    {
        var digest = await EstateAsync();

        var show = await CliRun.InAsync(_scratch.Dir, "patch", "show", digest);
        Assert.Contains("hosts     role proxy only", show.Stdout, StringComparison.Ordinal);

        var plan = await CliRun.InAsync(_scratch.Dir, "--json", "promote", digest, "--to", "staging", "--dry-run");
        Assert.True(plan.ExitCode == ExitCodes.Ok, plan.ToString());
        Assert.Equal(["proxy-1"], plan.Json.GetProperty("plan").GetProperty("hosts").EnumerateArray().Select(h => h.GetProperty("host").GetString()));

        var apply = await CliRun.InAsync(_scratch.Dir, "--json", "apply", digest, "--env", "staging");
        Assert.True(apply.ExitCode == ExitCodes.Ok, apply.ToString());
        Assert.Contains("to staging: proxy-1 (not app-1, app-2: the set is for role(s) proxy)", apply.Stderr, StringComparison.Ordinal);
        var run = apply.Json.GetProperty("run");
        Assert.Equal(["proxy-1"], run.GetProperty("hosts").EnumerateArray().Select(h => h.GetProperty("host").GetString()));
        Assert.Equal(["proxy-1"], apply.Json.GetProperty("rollbackPoint").GetProperty("hosts").EnumerateArray().Select(h => h.GetProperty("host").GetString()));
        Assert.True(Has("proxy-1"));
        Assert.False(Has("app-1") || Has("app-2"), "an app host got the proxies' file");

        var rollback = await CliRun.InAsync(_scratch.Dir, "--json", "rollback", "--env", "staging");
        Assert.True(rollback.ExitCode == ExitCodes.Ok, rollback.ToString());
        Assert.Equal(["proxy-1"], rollback.Json.GetProperty("run").GetProperty("hosts").EnumerateArray().Select(h => h.GetProperty("host").GetString()));
        Assert.False(Has("proxy-1"));
    }

    [SkippableFact]
    public async Task A_chosen_host_or_an_environment_without_the_role_is_bad_input_and_changes_nothing()
    {
        var digest = await EstateAsync();
        var audit = await AuditCountAsync();

        foreach (var (args, says) in new[]
                 {
                     (new[] { "apply", digest, "--env", "staging", "--hosts", "app-1" }, "patch set PROXY-1 is for role(s) proxy, and no host of staging given here has one (their roles: app)"),
                     (new[] { "apply", digest, "--env", "apps" }, "patch set PROXY-1 is for role(s) proxy, and no host of apps given here has one (their roles: app)"),
                 })
        {
            var refused = await CliRun.InAsync(_scratch.Dir, args);
            Assert.True(refused.ExitCode == ExitCodes.BadInput, string.Join(' ', args) + ": " + refused);
            Assert.Contains(says, refused.Stderr, StringComparison.Ordinal);
            Assert.Single(refused.Stderr.Trim().Split('\n'));
        }
        Assert.DoesNotContain(Hosts, Has);
        Assert.Equal(audit, await AuditCountAsync());

        var scan = await CliRun.InAsync(_scratch.Dir, "scan", "staging", "--role", "ldap");
        Assert.True(scan.ExitCode == ExitCodes.BadInput, scan.ToString());
        Assert.Contains("--role: no host of staging has role 'ldap' (their roles: app, proxy)", scan.Stderr, StringComparison.Ordinal);
    }
}
