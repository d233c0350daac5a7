using Stageproof.Core.Lifecycle;
using Stageproof.Lab.Internal;

namespace Stageproof.Lab;

/// <summary>
/// <see cref="IEnvironmentClones"/> for the lab: the environments <c>lab clone</c> made, read from LABDIR/lab.json on
/// every lookup (a clone made meanwhile is found). Open it with <see cref="ForConfigFile"/> when the configuration in
/// use is the lab's own stageproof.yaml, or construct it from a lab directory.
/// </summary>
public sealed class LabEnvironmentClones(string labDirectory) : IEnvironmentClones
{
    public string Directory { get; } = Path.GetFullPath(labDirectory);

    /// <summary>The clones of the lab whose stageproof.yaml <paramref name="configFile"/> is, or null when it is not a lab's.</summary>
    public static LabEnvironmentClones? ForConfigFile(string configFile) =>
        LabManager.ForConfigFile(configFile) is { } lab ? new LabEnvironmentClones(lab.Directory) : null;

    /// <summary>The clone record of <paramref name="environment"/>; null when it is not a clone (the standard
    /// environments) or unknown to the lab.</summary>
    public Task<EnvironmentClone?> FindAsync(string environment, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var env = LabState.Load(Directory)?.Environments.SingleOrDefault(e => e.Name == environment);
        return Task.FromResult(env is { ClonedFrom: { } source } ? new EnvironmentClone(env.Name, source, env.CreatedUtc) : null);
    }
}
