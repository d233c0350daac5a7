using Stageproof.Core.Validation;

namespace Stageproof.Core.Patches;

/// <summary>
/// Checks a frozen set's values again just before it reaches a host: the loader refused hostile values at freeze,
/// and this keeps that promise for any set, however it got into the store.
/// </summary>
public static class PatchSetGuard
{
    /// <exception cref="InputException">Every value that could not safely reach a host, named.</exception>
    public static void Check(PatchSet set)
    {
        ArgumentNullException.ThrowIfNull(set);
        var problems = new List<string>();
        void Add(string where, string? error)
        {
            if (error is not null)
            {
                problems.Add($"{where}: {error}");
            }
        }
        Add("id", Names.IdentifierError(set.Id, "patch set id"));
        foreach (var r in set.Repositories)
        {
            Add("repositories", PatchSetLoader.RepositoryError(r));
        }
        foreach (var p in set.Packages)
        {
            Add("packages", Names.PackageNameError(p.Name));
            Add($"packages.{Names.Show(p.Name)}", Names.PackageVersionError(p.Version));
        }
        foreach (var f in set.Files)
        {
            Add("files", Names.AbsolutePathError(f.Path));
            Add($"files.{Names.Show(f.Path)}.owner", f.Owner is null ? null : Names.UserNameError(f.Owner));
            Add($"files.{Names.Show(f.Path)}.group", f.Group is null ? null : Names.UserNameError(f.Group));
            Add($"files.{Names.Show(f.Path)}.mode", f.Mode is null || (f.Mode.Length is 3 or 4 && f.Mode.All(c => c is >= '0' and <= '7'))
                ? null : $"mode {Names.Show(f.Mode)} is not octal");
            foreach (var (key, value) in f.Set ?? new Dictionary<string, string>())
            {
                Add($"files.{Names.Show(f.Path)}.set", key.Length == 0 || key.Any(char.IsControl) || key.Contains('=', StringComparison.Ordinal) || value.Any(char.IsControl)
                    ? $"{Names.Show(key)} = {Names.Show(value)} must be one line without '=' in the key" : null);
            }
        }
        foreach (var m in set.Migrations)
        {
            Add("migrations", Names.IdentifierError(m.Database, "database name"));
        }
        foreach (var b in set.WayBack ?? [])
        {
            Add($"way_back.{Names.Show(b.Migration)}", b.How == WayBackHow.Down && (b.Sql is null || b.Sha256 != PatchSetFreezer.Sha256(b.Sql))
                ? "its down script is not frozen with the set, or does not match its checksum" : null);
        }
        foreach (var c in set.Commands.Pre.Concat(set.Commands.Post))
        {
            Add("commands", PatchSetLoader.CommandError(c.Run));
        }
        if (problems.Count > 0)
        {
            throw new InputException($"patch set {Names.Show(set.Id)} holds values that must not reach a host: {string.Join("; ", problems)}");
        }
    }
}
