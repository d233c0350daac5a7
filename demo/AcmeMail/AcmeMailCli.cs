using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace AcmeMail;

/// <summary>
/// The command line. Exit codes: 0 ok, 1 cannot start (database unreachable, migration refused or failed),
/// 2 usage or configuration error.
/// </summary>
public static class AcmeMailCli
{
    public const string Usage = """
        usage: acme-mail [--version | --migrate | --seed | --help]
          (no option)  migrate the database, then serve HTTP until SIGTERM
          --version    print the version
          --migrate    apply pending migrations and exit
          --seed       apply pending migrations, run seed.sql (seed-mariadb.sql when db.engine = mariadb;
                       idempotent), exit
        files: ACME_MAIL_DEFAULTS (/usr/share/acme-mail/defaults.conf), ACME_MAIL_CONF (/etc/acme-mail/acme-mail.conf),
               ACME_MAIL_MIGRATIONS (/usr/share/acme-mail/migrations; its mariadb/ when db.engine = mariadb),
               ACME_MAIL_SEED (/usr/share/acme-mail/seed.sql),
               ACME_MAIL_LOG (/var/log/acme-mail/acme-mail.log), ACME_MAIL_READY_FILE (written once listening),
               ACME_MAIL_FAULTS (/usr/share/acme-mail/faults.conf: fault injection, shipped only by test packages)
        """;

    public static async Task<int> RunAsync(string[] args, AppPaths paths, CancellationToken ct, MailAppOptions? options = null,
        Action<Uri>? onListening = null)
    {
        var mode = args switch
        {
            [] => "serve",
            ["--version" or "-V" or "version"] => "version",
            ["--migrate"] => "migrate",
            ["--seed"] => "seed",
            ["--help" or "-h"] => "help",
            _ => "usage",
        };
        switch (mode)
        {
            case "version":
                Console.Out.WriteLine(BuildInfo.Version);
                return 0;
            case "help":
                Console.Out.WriteLine(Usage);
                return 0;
            case "usage":
                Console.Error.WriteLine(Usage);
                return 2;
        }

        AppSettings settings;
        Faults faults;
        try
        {
            settings = AppSettings.Load(paths);
            faults = Faults.Load(paths.Faults);
        }
        catch (Exception e) when (e is ConfigException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"acme-mail: configuration error: {e.Message}");
            using var fallback = new AppLog(paths.Log, LogLevelName.Info);
            fallback.Error($"configuration error: {e.Message}");
            return 2;
        }

        using var log = new AppLog(paths.Log, settings.LogLevel);
        var version = options?.Version ?? BuildInfo.Version;
        await using var store = MailStore.Create(settings);
        try
        {
            if (mode == "serve")
            {
                log.Info($"acme-mail {version} starting (pid {Environment.ProcessId}, config {paths.Defaults} then {paths.Config} then {paths.HostConfig})");
                if (faults.Any)
                {
                    log.Info($"fault injection from {paths.Faults}: {faults}");
                }
            }
            await new Migrator(store, store.MigrationsIn(paths.Migrations), log).MigrateAsync(ct);
            if (mode == "migrate")
            {
                return 0;
            }
            if (mode == "seed")
            {
                return await SeedAsync(store, store.SeedFileFor(paths.Seed), log, ct);
            }
            return await ServeAsync(settings, store, log, paths, options ?? new MailAppOptions(), faults, onListening, ct);
        }
        catch (MigrationException e)
        {
            log.Error($"refusing to start: {e.Message}");
            Console.Error.WriteLine($"acme-mail: refusing to start: {e.Message}");
            return 1;
        }
        catch (System.Data.Common.DbException e)
        {
            log.Error($"refusing to start: database error: {e.Message}");
            Console.Error.WriteLine($"acme-mail: refusing to start: database error: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return 0;
        }
    }

    /// <summary>fault.die_after: a real crash (an unhandled exception on a thread of its own, so the runtime aborts
    /// the process with a non-zero status), after answering normally until then. Nothing is written to the log.</summary>
    private static void StartCrashTimer(TimeSpan after)
    {
        var thread = new Thread(() =>
        {
            Thread.Sleep(after);
            throw new InvalidOperationException($"fault.die_after: acme-mail crashes {after.TotalSeconds:0}s after start (fault injection)");
        })
        {
            IsBackground = true,
            Name = "fault.die_after",
        };
        thread.Start();
    }

    private static async Task<int> SeedAsync(IMailStore store, string seedPath, AppLog log, CancellationToken ct)
    {
        if (!File.Exists(seedPath))
        {
            log.Error($"seed: {seedPath} does not exist");
            Console.Error.WriteLine($"acme-mail: {seedPath} does not exist");
            return 2;
        }
        var (users, messages) = await store.SeedAsync(await File.ReadAllTextAsync(seedPath, ct), ct);
        var line = $"seed: database has {users} users and {messages} messages";
        log.Info(line);
        Console.Out.WriteLine(line);
        return 0;
    }

    private static async Task<int> ServeAsync(AppSettings settings, IMailStore store, AppLog log, AppPaths paths,
        MailAppOptions options, Faults faults, Action<Uri>? onListening, CancellationToken ct)
    {
        await using var app = MailApp.Build(settings, store, log, options, faults);
        try
        {
            await app.StartAsync(ct);
        }
        catch (IOException e)
        {
            log.Error($"cannot listen on {settings.ListenAddress}:{settings.ListenPort}: {e.Message}");
            Console.Error.WriteLine($"acme-mail: cannot listen on {settings.ListenAddress}:{settings.ListenPort}: {e.Message}");
            return 1;
        }
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? $"http://{settings.ListenAddress}:{settings.ListenPort}";
        log.Info($"acme-mail {options.Version} listening on {address} (mailbox owner check {(options.EnforceMailboxOwner ? "on" : "off")})");
        if (paths.ReadyFile is { } ready)
        {
            await File.WriteAllTextAsync(ready, $"{Environment.ProcessId}\n", CancellationToken.None);
        }
        onListening?.Invoke(new Uri(address));
        if (faults.DieAfterSeconds is { } seconds)
        {
            StartCrashTimer(TimeSpan.FromSeconds(seconds));
        }

        var lifetime = app.Lifetime;
        using (ct.Register(lifetime.StopApplication))
        {
            await app.WaitForShutdownAsync(CancellationToken.None);
        }
        if (paths.ReadyFile is { } readyFile)
        {
            File.Delete(readyFile);
        }
        log.Info("acme-mail stopped");
        return 0;
    }
}
