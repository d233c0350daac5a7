namespace Stageproof.Lab.Internal;

/// <summary>
/// The servers an environment's app hosts use, by the lab's estate: PostgreSQL (standard) or MariaDB (mail; its OpenLDAP
/// directory runs on a host of the environment, see <see cref="Slapd"/>). What differs between the two estates is here, so the lab's verbs stay one code path.
/// </summary>
internal static class EstateServers
{
    /// <summary>Starts the environment's database server, empty, and, for a clone, copies the source's mail database into
    /// its own.</summary>
    public static async Task InitAsync(LabState state, EnvState env, EnvState? cloneOf, IProgress<string>? progress, CancellationToken ct)
    {
        var scratch = Path.Combine(state.Directory, "db");
        if (state.IsMail)
        {
            // The directory is not a server of the environment but its LDAP host's slapd (Slapd), set up with the hosts.
            await MariaDbServer.InitAsync(env, state.MariaDbPort, ct).ConfigureAwait(false);
            if (cloneOf is not null)
            {
                await MariaDbServer.CopyDatabaseAsync($"{env.Name}-db", cloneOf.DatabaseAddress, env.DatabaseAddress, state.MariaDbPort, scratch, ct).ConfigureAwait(false);
            }
            progress?.Report($"{env.Name}: MariaDB up on {env.DatabaseAddress}:{state.MariaDbPort}" + (cloneOf is null ? "" : $", mail of {cloneOf.Name}"));
            return;
        }
        await PostgresServer.InitAsync(env, state.PostgresPort, ct).ConfigureAwait(false);
        if (cloneOf is not null)
        {
            await PostgresServer.CopyDatabaseAsync($"{env.Name}-db", cloneOf.DatabaseAddress, env.DatabaseAddress, state.PostgresPort, scratch, ct).ConfigureAwait(false);
        }
        progress?.Report($"{env.Name}: PostgreSQL up on {env.DatabaseAddress}:{state.PostgresPort}" + (cloneOf is null ? "" : $", mail of {cloneOf.Name}"));
    }

    /// <summary>The mail database's connection string as acme-mail and Stageproof's configuration take it (no engine prefix).</summary>
    public static string ConnectionString(LabState state, EnvState env) => state.IsMail
        ? MariaDbServer.ConnectionString(env.DatabaseAddress, state.MariaDbPort)
        : PostgresServer.ConnectionString(env.DatabaseAddress, state.PostgresPort);

    /// <summary>acme-mail's settings for its database and its logins on a host of <paramref name="env"/>.</summary>
    public static string AcmeMailSettings(LabState state, EnvState env) => state.IsMail
        ? $"db.engine = mariadb\ndb.connection = {ConnectionString(state, env)}\n" +
          $"auth.backend = ldap\nauth.ldap.url = {LdapServer.Url(env.DirectoryAddress, state.LdapPort)}\nauth.ldap.user_dn = {LdapServer.UserDnTemplate}\n"
        : $"db.connection = {ConnectionString(state, env)}\n";

    /// <summary>Stops every database server under the lab directory. Returns how many were running.</summary>
    public static async Task<int> StopAllAsync(string labDir, CancellationToken ct)
    {
        var stopped = 0;
        var dbDir = Path.Combine(labDir, "db");
        if (System.IO.Directory.Exists(dbDir))
        {
            foreach (var data in System.IO.Directory.EnumerateDirectories(dbDir))
            {
                var running = File.Exists(Path.Combine(data, "PG_VERSION")) ? await PostgresServer.StopAsync(data, ct).ConfigureAwait(false)
                    : MariaDbServer.IsDataDirectory(data) && await MariaDbServer.StopAsync(data, ct).ConfigureAwait(false);
                stopped += running ? 1 : 0;
            }
        }
        return stopped;
    }
}
