using Stageproof.Core.Manifests;

namespace Stageproof.Core.Tests.Drift;

/// <summary>Small, hand-countable manifests for drift tests.</summary>
internal static class Samples
{
    public const string MailConf = """
        # acme-mail configuration
        listen = 0.0.0.0:8080
        workers = 4
        log_level = info
        storage = /var/lib/acme-mail
        max_message_size = 10M
        tls = on
        token_check = strict
        """;

    /// <summary>20 packages, 3 tracked files, 4 services, 2 ports and the OS.</summary>
    public static Manifest Host(string target, string? role = "app", string environment = "prod") => new()
    {
        Target = target,
        Environment = environment,
        Role = role,
        CollectedAt = new DateTimeOffset(2026, 11, 1, 9, 0, 0, TimeSpan.Zero),
        Os = new OsInfo("debian", "12", "Debian GNU/Linux 12 (bookworm)", "6.1.0-26-amd64", "amd64"),
        Packages = Enumerable.Range(1, 18).Select(i => new PackageInfo($"pkg-{i:00}", $"1.{i}-1", "amd64"))
            .Append(new PackageInfo("acme-mail", "1.0-1", "all"))
            .Append(new PackageInfo("openssh-server", "1:9.2p1-2+deb12u3", "amd64"))
            .ToList(),
        Files =
        [
            File("/etc/acme-mail/mail.conf", MailConf),
            File("/etc/ssh/sshd_config", "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"),
            File("/etc/motd", "Authorised use only.\n"),
        ],
        Services =
        [
            new ServiceInfo("acme-mail", true, "systemd"),
            new ServiceInfo("cron", true, "systemd"),
            new ServiceInfo("ssh", true, "systemd"),
            new ServiceInfo("unattended-upgrades", false, "systemd"),
        ],
        Ports =
        [
            new ListeningPort("tcp", "0.0.0.0", 22),
            new ListeningPort("tcp", "127.0.10.11", 8080),
        ],
    };

    public static ConfigFileInfo File(string path, string content, string owner = "root", string group = "root", string mode = "0644") =>
        new(path, owner, group, mode, Sha(content), content.Length, content);

    public static string Sha(string content) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(content)));

    public static Manifest WithPackage(this Manifest m, string name, string? version) => m with
    {
        Packages = version is null
            ? m.Packages.Where(p => p.Name != name).ToList()
            : m.Packages.Where(p => p.Name != name).Append(new PackageInfo(name, version, "amd64")).ToList(),
    };

    public static Manifest WithFile(this Manifest m, ConfigFileInfo? file, string path) => m with
    {
        Files = file is null
            ? m.Files.Where(f => f.Path != path).ToList()
            : m.Files.Where(f => f.Path != path).Append(file).ToList(),
    };

    public static Manifest WithService(this Manifest m, string name, bool? running) => m with
    {
        Services = running is null
            ? m.Services.Where(s => s.Name != name).ToList()
            : m.Services.Where(s => s.Name != name).Append(new ServiceInfo(name, running.Value, "systemd")).ToList(),
    };

    /// <summary>A database manifest with 3 settings, 4 schema objects and 2 migrations.</summary>
    public static Manifest Database(string environment, string name = "mail") => new()
    {
        Kind = ManifestKind.Database,
        Target = $"{environment}/{name}",
        Environment = environment,
        Database = new DatabaseInfo
        {
            Name = name,
            ServerVersion = "16.4",
            Settings = new SortedDictionary<string, string>(StringComparer.Ordinal)
            {
                ["max_connections"] = "200",
                ["shared_buffers"] = "256MB",
                ["work_mem"] = "8MB",
            },
            Schema = new SchemaFingerprint
            {
                Digest = "d1",
                Objects =
                [
                    new SchemaObject("table", "public.mailbox", "CREATE TABLE public.mailbox (id bigint, owner text)"),
                    new SchemaObject("column", "public.mailbox.id", "bigint not null"),
                    new SchemaObject("column", "public.mailbox.owner", "text not null"),
                    new SchemaObject("constraint", "public.mailbox_pkey", "PRIMARY KEY (id)"),
                ],
                Migrations =
                [
                    new MigrationRecord("001", "create mailbox", "c1", true),
                    new MigrationRecord("002", "mailbox owner", "c2", true),
                ],
            },
        },
    };
}
