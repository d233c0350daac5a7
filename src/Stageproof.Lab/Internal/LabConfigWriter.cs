using System.Globalization;
using System.Text;

namespace Stageproof.Lab.Internal;

/// <summary>Writes LABDIR/stageproof.yaml describing the estate, with paths relative to the file.</summary>
internal static class LabConfigWriter
{
    public static string Render(LabState state)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("# The Stageproof lab estate, written by `stageproof lab up` / `lab clone`. Rewritten on every change.\n");
        sb.Append("hosts:\n");
        foreach (var h in state.Hosts)
        {
            sb.Append(inv, $"  {h.Name}: {{ address: {h.Address}, port: {state.SshPort}, user: root, role: {h.Role}, ")
              .Append("identity: keys/lab_ed25519, known_hosts: keys/known_hosts }\n");
        }
        sb.Append("environments:\n");
        foreach (var e in state.Environments)
        {
            sb.Append(inv, $"  {e.Name}:\n    hosts: [{string.Join(", ", e.Hosts)}]\n");
            var connection = Q(EstateServers.ConnectionString(state, e));
            sb.Append(state.IsMail
                ? $"    databases: {{ {MariaDbServer.Database}: {{ engine: mariadb, connection: {connection} }} }}\n"
                : $"    databases: {{ {PostgresServer.Database}: {connection} }}\n");
            if (state.IsMail)
            {
                // Read with the config admin's password (0600 beside the acme-mail accounts): version, modules, cn=config, schema, entry counts.
                sb.Append(inv, $"    directories:\n      users: {{ url: {Q(LdapServer.Url(e.DirectoryAddress, state.LdapPort))}, bind_dn: {Q(LdapServer.ConfigAdminDn)}, ")
                  .Append(inv, $"password_file: {LdapServer.ConfigPasswordFile}, bases: [{Q(LdapServer.People)}]");
                // Served by the environment's LDAP host (the URL names its address): an apply that reaches it exports the
                // entries first, as the data admin, and a rollback restores them if they changed.
                if (state.Hosts.Any(h => h.Environment == e.Name && h.Role == Slapd.Role))
                {
                    sb.Append(inv, $",\n        rollback: {{ bind_dn: {Q(LdapServer.DataAdminDn)}, password_file: {LdapServer.AdminPasswordFile} }}");
                }
                sb.Append(" }\n");
            }
            if (e.MirrorOf is not null)
            {
                sb.Append(inv, $"    mirror_of: {e.MirrorOf}\n");
            }
            // The control only while it exists: a clone removed by hand must not leave a reference to nothing.
            if (e.Control is { } control && state.Environments.Any(c => c.Name == control))
            {
                sb.Append(inv, $"    control: {control}\n");
            }
            sb.Append("    checks: acme-mail\n");
        }
        // The proxies' nginx.conf and site are the same on every proxy (their listen address and app hosts are in files
        // of their own, untracked), so a change to either is drift.
        var proxyFiles = state.Hosts.Any(h => h.Role == Nginx.Role) ? $", /etc/nginx/nginx.conf, {Nginx.SiteFile}" : "";
        sb.Append($$"""
            drift:
              track: [/etc/acme-mail/*.conf, /usr/share/acme-mail/defaults.conf, /etc/ssh/sshd_config, /etc/apt/sources.list.d/*.list{{proxyFiles}}]
              ignore: ["file:/etc/hostname", "file:/etc/hosts"]
              min_fidelity: 0.98
              fail_on: high
            ssh:
              parallelism: 16
            checks:
              acme-mail:

            """);
        var port = state.AcmeMailPort.ToString(inv);
        var proxied = state.Hosts.Any(h => h.Role == Nginx.Role);
        // Every host check names the app hosts: the proxies run no acme-mail of their own.
        sb.Append(inv, $"    - {{ name: health, type: http, role: app, port: {port}, path: /health, expect_status: 200, expect_json: ['$.status == \"ok\"'] }}\n");
        if (proxied)
        {
            // What users reach: acme-mail through each environment's proxy.
            sb.Append(inv, $"    - {{ name: proxy-health, type: http, role: {Nginx.Role}, port: {Nginx.Port}, path: /health, expect_status: 200, expect_json: ['$.status == \"ok\"'] }}\n");
        }
        sb.Append(inv, $"    - {{ name: listening, type: tcp, role: app, port: {port} }}\n");
        sb.Append("    - { name: service, type: service, role: app, service: acme-mail }\n");
        sb.Append(inv, $"    - name: login\n      type: auth\n      role: app\n      port: {port}\n      credentials: {{ file: {SecretsRelativePath} }}\n");
        sb.Append("      steps:\n");
        sb.Append("        - { method: POST, path: /login, json: { user: \"${user}\", password: \"${password}\" }, extract: { token: $.token } }\n");
        sb.Append("        - { path: \"/mailbox/${user}\", headers: { Authorization: \"Bearer ${token}\" } }\n");
        sb.Append("    - { name: users, type: sql, database: mail, query: \"SELECT count(*) FROM users\", expect: \"50\" }\n");
        // Data continuity beyond row counts: the mail's bodies may only grow across a change (a migration that truncates
        // them keeps every row and fails only here).
        sb.Append("    - { name: mail-content, type: sql, database: mail, query: \"SELECT count(*) AS messages, sum(length(body)) AS body_bytes FROM messages\", continuity: true }\n");
        // The lab's hosts share two cores with everything else on the machine, so a baseline and an after run minutes
        // apart can differ 2-2.5x at p95 from noise alone: the lab allows 3x (production suites keep the 1.5 default).
        // The gauntlet's slow search adds 800 ms a request, a ratio of 10x and more.
        // On the mail estate the mail is searched through the proxy, as users do (the login steps too).
        var loadTarget = proxied ? $"role: {Nginx.Role}, port: {Nginx.Port}" : $"role: app, port: {port}";
        sb.Append(inv, $"    - {{ name: mail-load, type: load, {loadTarget}, clients: 8, duration: 5s, warmup: 16, auth: login, compare: {{ max_p95_ratio: 3 }},\n");
        sb.Append("        requests: [{ path: \"/search?q=invoice&user=${user}\", headers: { Authorization: \"Bearer ${token}\" } }] }\n");
        // Logins from 32 clients at once: what a concurrency bug in authentication shows under and never one at a time.
        sb.Append(inv, $"    - {{ name: login-load, type: load, role: app, port: {port}, clients: 32, iterations: 320, warmup: 32, auth: login, compare: {{ max_p95_ratio: 3 }},\n");
        sb.Append("        requests: [{ path: /health }] }\n");
        if (state.IsMail)
        {
            // Each environment's directory (directory: users), one client at a time: a bind and a search as two of the demo's
            // accounts. With ldap-load below, a directory that answers one bind and fails many at once shows both.
            sb.Append(inv, $"    - {{ name: ldap-bind, type: ldap, directory: users, bind_dn: {Q(LdapServer.UserDnTemplate.Replace("{user}", "${user}", StringComparison.Ordinal))}, ")
              .Append(inv, $"credentials: {{ file: {SecretsRelativePath} }},\n        accounts: [user01, user02], base: {Q(LdapServer.People)}, filter: \"(uid=${{user}})\" }}\n");
            // The directory itself under concurrency, each environment's own (directory: users): binds and searches of
            // the demo's accounts from 8 clients, compared before and after a change like the HTTP loads (noise floor,
            // confirming second run). Its p95 is a couple of milliseconds, where a busy neighbour alone triples it: a
            // ratio of 10 leaves latency to real slowdowns, and failed binds (errors) are judged as usual.
            sb.Append(inv, $"    - {{ name: ldap-load, type: ldap, directory: users, bind_dn: {Q(LdapServer.UserDnTemplate.Replace("{user}", "${user}", StringComparison.Ordinal))}, ")
              .Append(inv, $"credentials: {{ file: {SecretsRelativePath} }},\n        base: {Q(LdapServer.People)}, filter: \"(uid=${{user}})\", clients: 8, duration: 3s, warmup: 16, compare: {{ max_p95_ratio: 10 }} }}\n");
        }
        // Migration history complete and consistent. Not same_as prod: a patch that migrates is meant to differ from prod
        // afterwards, and the fidelity step already compares the schema with prod's before anything changes.
        sb.Append("    - { name: schema, type: schema, database: mail, migrations_complete: true }\n");
        sb.Append("    - { name: log-errors, type: logs, role: app, file: /var/log/acme-mail/acme-mail.log, fail: [\" ERROR \", \" FATAL \"], warn: [\" WARN \"] }\n");
        // The stage gate's soak window: the service must keep answering for half a minute after the change.
        sb.Append(inv, $"    - {{ name: soak, type: soak, checks: [health, login{(proxied ? ", proxy-health" : "")}], duration: 30s, interval: 3s }}\n");
        RenderLifecycle(sb, state);
        return sb.ToString();
    }

    /// <summary>The promotion lane qa → staging → prod over the standard environments the lab has (clones are never
    /// stages); prod needs one approval from an operator or admin and rolls out canary-first.</summary>
    private static void RenderLifecycle(StringBuilder sb, LabState state)
    {
        var stages = LifecycleStages.Where(s => state.Environments.Any(e => e.Name == s && e.ClonedFrom is null)).ToList();
        if (stages.Count == 0)
        {
            return;
        }
        sb.Append("# Promotion lane: a patch passes qa, then staging, then reaches prod with one approval, canary first; clones are never stages.\n");
        sb.Append("lifecycle:\n  stages:\n");
        foreach (var stage in stages)
        {
            sb.Append(CultureInfo.InvariantCulture, $"    - environment: {stage}\n");
            if (stage == "prod")
            {
                sb.Append("      approvals: 1\n");
                sb.Append("      roles: [operator, admin]\n");
                sb.Append("      rollout: { canary: 1, batch: 50%, max_failures: 0, pause: 0s, settle: 5s, checks: [health, listening, service, login, log-errors], rollback: all }\n");
            }
        }
        sb.Append("  emergency:\n    max_clone_age: 24h\n");
    }

    /// <summary>The lab's standard environments in promotion order.</summary>
    private static readonly string[] LifecycleStages = ["qa", "staging", "prod"];

    /// <summary>The acme-mail accounts' secrets file, relative to the lab directory (and so to its stageproof.yaml).</summary>
    public const string SecretsRelativePath = "secrets/acme-mail.env";

    /// <summary>
    /// The acme-mail accounts the demo data seeds (user01..user50 with password-01..password-50, see
    /// demo/AcmeMail/share/seed.sql) as user=password lines: the auth checks read them from here, never from the YAML.
    /// </summary>
    public static string RenderSecrets()
    {
        var sb = new StringBuilder("# acme-mail demo accounts for Stageproof's auth checks (user=password). Keep this file mode 0600.\n");
        for (var i = 1; i <= 50; i++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"user{i:00}=password-{i:00}\n");
        }
        return sb.ToString();
    }

    /// <summary>Writes LABDIR/stageproof.yaml and, created with mode 0600 before any secret is written, LABDIR/secrets/acme-mail.env.</summary>
    public static async Task WriteAsync(string labDirectory, LabState state, CancellationToken cancellationToken)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("the lab runs on Linux");
        }
        var secrets = Path.Combine(labDirectory, SecretsRelativePath);
        var secretsDir = Path.GetDirectoryName(secrets)!;
        Directory.CreateDirectory(secretsDir);
        File.SetUnixFileMode(secretsDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await using (var stream = new FileStream(secrets, new FileStreamOptions
        {
            Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            File.SetUnixFileMode(secrets, UnixFileMode.UserRead | UnixFileMode.UserWrite); // an existing file keeps its old mode otherwise
            await stream.WriteAsync(Encoding.UTF8.GetBytes(RenderSecrets()), cancellationToken).ConfigureAwait(false);
        }
        await File.WriteAllTextAsync(Path.Combine(labDirectory, "stageproof.yaml"), Render(state), cancellationToken).ConfigureAwait(false);
    }

    private static string Q(string s) => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
