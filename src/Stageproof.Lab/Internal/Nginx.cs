using System.Globalization;
using System.Text;
using Stageproof.Core;

namespace Stageproof.Lab.Internal;

/// <summary>
/// The mail estate's proxy tier: Debian's nginx (its packages fetched once with <c>apt-get download</c> into the cache
/// and published in the lab repository), installed on each environment's proxy host, in front of its app hosts on
/// port 80 as users reach acme-mail.
/// The site is the same file on every proxy (tracked, compared by drift); where this host listens and which app hosts
/// it balances over are this host's own (<see cref="HostFile"/>, <see cref="UpstreamFile"/>), as acme-mail's host.d is.
/// </summary>
internal static class Nginx
{
    public const string Package = "nginx";
    public const int Port = 80;
    public const string Role = "proxy";
    public const string SiteFile = "/etc/nginx/sites-available/acme-mail";
    private const string EnabledSite = "/etc/nginx/sites-enabled/acme-mail";
    private const string DefaultSite = "/etc/nginx/sites-enabled/default";
    /// <summary>This host's listen address (included inside the site's server block).</summary>
    public const string HostFile = "/etc/nginx/host.d/listen.conf";
    /// <summary>This environment's app hosts (conf.d is included at http level by Debian's nginx.conf).</summary>
    public const string UpstreamFile = "/etc/nginx/conf.d/acme-mail-upstream.conf";

    private const string Site = """
        # acme-mail behind the proxy (written by `stageproof lab up`). Identical on every proxy: where this host listens
        # is in /etc/nginx/host.d/listen.conf, the app hosts it balances over in /etc/nginx/conf.d/acme-mail-upstream.conf.
        server {
            include /etc/nginx/host.d/listen.conf;
            access_log /var/log/nginx/acme-mail.access.log;
            error_log /var/log/nginx/acme-mail.error.log;
            location / {
                proxy_pass http://acme_mail;
                proxy_http_version 1.1;
                proxy_set_header Connection "";
                proxy_set_header Host $host;
                proxy_set_header X-Forwarded-For $remote_addr;
                proxy_connect_timeout 5s;
                proxy_read_timeout 60s;
            }
        }

        """;

    /// <summary>The packages (nginx and nginx-common of this machine's Debian), downloaded once into the cache.</summary>
    public static async Task<IReadOnlyList<string>> EnsureDebsAsync(LabOptions options, IProgress<string>? progress, CancellationToken ct)
    {
        var cache = Path.Combine(options.CacheDirectory, $"nginx-debs-{options.Suite}");
        await CachedDirectory.EnsureAsync(cache, IsComplete, async tmp =>
        {
            progress?.Report($"nginx: apt-get download nginx nginx-common (once; cached in {cache})");
            await Run.CheckedAsync("nginx", "/usr/bin/apt-get", ["download", "-q", "nginx", "nginx-common"], TimeSpan.FromMinutes(5), ct,
                workingDirectory: tmp).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
        return System.IO.Directory.EnumerateFiles(cache, "*.deb").Order(StringComparer.Ordinal).ToList();
    }

    private static bool IsComplete(string cache) =>
        System.IO.Directory.Exists(cache) &&
        System.IO.Directory.EnumerateFiles(cache, "nginx_*.deb").Any() &&
        System.IO.Directory.EnumerateFiles(cache, "nginx-common_*.deb").Any();

    /// <summary>Installs nginx from the lab repository without starting it (policy-rc.d denies), drops Debian's default
    /// site (it would listen on every address) and writes the acme-mail site and this host's own files.</summary>
    public static async Task InstallAsync(HostRoots roots, HostState host, IEnumerable<string> appAddresses, int appPort, CancellationToken ct)
    {
        await roots.AptInstallAsync(host, Package, ct).ConfigureAwait(false);
        File.Delete(In(host, DefaultSite));
        await File.WriteAllTextAsync(In(host, SiteFile), Site, ct).ConfigureAwait(false);
        if (!File.Exists(In(host, EnabledSite)))
        {
            File.CreateSymbolicLink(In(host, EnabledSite), SiteFile);
        }
        await ConfigureAsync(host, appAddresses, appPort, ct).ConfigureAwait(false);
    }

    /// <summary>Writes where this proxy listens and the app hosts it balances over (a clone's are its own).</summary>
    public static async Task ConfigureAsync(HostState host, IEnumerable<string> appAddresses, int appPort, CancellationToken ct)
    {
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(In(host, HostFile))!);
        await File.WriteAllTextAsync(In(host, HostFile),
            $"# This proxy's own address (written by `stageproof lab up`).\nlisten {host.Address}:{Port.ToString(CultureInfo.InvariantCulture)};\n", ct).ConfigureAwait(false);
        var upstream = new StringBuilder("# This environment's acme-mail app hosts (written by `stageproof lab up`).\nupstream acme_mail {\n");
        foreach (var address in appAddresses)
        {
            upstream.Append(CultureInfo.InvariantCulture, $"    server {address}:{appPort};\n");
        }
        upstream.Append("    keepalive 16;\n}\n");
        await File.WriteAllTextAsync(In(host, UpstreamFile), upstream.ToString(), ct).ConfigureAwait(false);
    }

    /// <summary>Starts nginx through its init script and lets later package upgrades restart it (policy-rc.d allow
    /// list); waits until acme-mail answers through it.</summary>
    public static async Task StartAsync(HostRoots roots, HostState host, CancellationToken ct)
    {
        await BaseImage.AllowStartsAsync(host.Root, Package, ct).ConfigureAwait(false);
        System.IO.Directory.CreateDirectory(roots.LogDir);
        await Run.DaemonAsync(host.Name, Path.Combine(roots.LogDir, host.Name + ".nginx.log"), "/usr/sbin/chroot",
            [host.Root, "/usr/sbin/service", Package, "start"], TimeSpan.FromSeconds(60), ct).ConfigureAwait(false);
        var url = HealthUrl(host.Address);
        if (!await Net.WaitUntilAsync(async c => await Net.HttpStatusAsync(url, c).ConfigureAwait(false) == 200, TimeSpan.FromSeconds(60), ct).ConfigureAwait(false))
        {
            throw new InfrastructureException(host.Name, $"acme-mail did not answer 200 through nginx on {url} within 60s (see {host.Root}/var/log/nginx/acme-mail.error.log)");
        }
    }

    /// <summary>Installed and enabled (the lab started it once).</summary>
    public static bool Enabled(string root) => BaseImage.ServiceEnabled(root, Package);

    public static string HealthUrl(string address) => $"http://{address}:{Port.ToString(CultureInfo.InvariantCulture)}/health";

    private static string In(HostState host, string path) => Path.Combine(host.Root, path.TrimStart('/'));
}
