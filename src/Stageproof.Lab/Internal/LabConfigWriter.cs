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
            sb.Append(inv, $"    databases: {{ {PostgresServer.Database}: {Q(PostgresServer.ConnectionString(e.DatabaseAddress, state.PostgresPort))} }}\n");
            if (e.MirrorOf is not null)
            {
                sb.Append(inv, $"    mirror_of: {e.MirrorOf}\n");
            }
            sb.Append("    checks: acme-mail\n");
        }
        sb.Append("""
            drift:
              track: [/etc/acme-mail/*.conf, /etc/ssh/sshd_config, /etc/apt/sources.list.d/*.list]
              ignore: ["file:/etc/hostname", "file:/etc/hosts"]
              min_fidelity: 0.98
              fail_on: high
            ssh:
              parallelism: 16
            checks:
              acme-mail:

            """);
        var port = state.AcmeMailPort.ToString(inv);
        sb.Append(inv, $"    - {{ name: health, type: http, port: {port}, path: /health, expect_status: 200 }}\n");
        sb.Append(inv, $"    - {{ name: listening, type: tcp, port: {port} }}\n");
        sb.Append("    - { name: service, type: service, service: acme-mail, expect: running }\n");
        sb.Append("    - { name: login, type: auth, port: " + port + ", user: user01, password: password-01 }\n");
        sb.Append("    - { name: database, type: sql, database: mail, query: \"SELECT count(*) FROM users\", expect: \"50\" }\n");
        sb.Append("    - { name: log-errors, type: logs, file: /var/log/acme-mail/acme-mail.log, forbid: [\" ERROR \", \" FATAL \"] }\n");
        return sb.ToString();
    }

    private static string Q(string s) => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
