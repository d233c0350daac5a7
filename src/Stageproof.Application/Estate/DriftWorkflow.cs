using System.Globalization;
using Stageproof.Application.Notifications;
using Stageproof.Application.Views;
using Stageproof.Core;
using Stageproof.Core.Audit;
using Stageproof.Core.Configuration;
using Stageproof.Core.Drift;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Manifests;
using Stageproof.Core.State;
using Stageproof.Core.Webhooks;

namespace Stageproof.Application.Estate;

/// <summary>The result of any comparison, flattened for display: pairs of targets and their items.</summary>
public sealed record DriftReport(
    string Left,
    string Right,
    IReadOnlyList<(string Left, string Right, IReadOnlyList<DriftItem> Items)> Pairs,
    IReadOnlyList<DriftItem> Unpaired,
    IReadOnlyList<FamilyFigures> Families,
    double Fidelity,
    object Detail)
{
    public int Items => Pairs.Sum(p => p.Items.Count) + Unpaired.Count;

    /// <summary>A role or database present on one side only: never a faithful mirror, whatever the figure.</summary>
    public bool MissingCounterpart => Unpaired.Any(i => i.Category is DriftCategory.HostMissing or DriftCategory.DatabaseMissing);

    public DriftSeverity? MaxSeverity => Unpaired.Concat(Pairs.SelectMany(p => p.Items)).Select(i => (DriftSeverity?)i.Severity).Max();

    /// <summary>The one rule for "is B a faithful mirror of A": the figure, a missing counterpart, or a difference too severe.</summary>
    public bool Fails(double minFidelity, DriftSeverity? failOn) =>
        Fidelity < minFidelity || MissingCounterpart || (failOn is { } level && MaxSeverity >= level);

    public static DriftReport From(EnvironmentDrift d)
    {
        ArgumentNullException.ThrowIfNull(d);
        return new(d.Left, d.Right,
            d.Hosts.Select(p => (p.Left, p.Right, p.Drift.Items))
                .Concat(d.Databases.Select(p => (p.Left, p.Right, p.Drift.Items))).ToList(),
            d.Items, d.Families, d.Fidelity, d);
    }

    public static DriftReport From(HostDrift d)
    {
        ArgumentNullException.ThrowIfNull(d);
        return new(d.Left, d.Right, [(d.Left, d.Right, d.Items)], [], d.Families, d.Fidelity, d);
    }

    /// <summary>Compares two operands: two environments, or two hosts/manifests.</summary>
    public static DriftReport Compare(DriftOperand a, DriftOperand b, DriftRules rules)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.IsEnvironment != b.IsEnvironment)
        {
            throw new InputException($"cannot compare '{a.Label}' with '{b.Label}': compare two environments, or two hosts/manifests");
        }
        if (a.IsEnvironment)
        {
            return From(DriftEngine.CompareEnvironments(a.Label, a.Manifests, b.Label, b.Manifests, rules));
        }
        if (a.Manifests.Count != 1 || b.Manifests.Count != 1)
        {
            throw new InputException($"'{a.Label}' and '{b.Label}' must each name one host or manifest");
        }
        return From(DriftEngine.Compare(a.Manifests[0], b.Manifests[0], rules));
    }
}

/// <summary>What a drift comparison came to: the facts that could not be collected (then nothing was compared), or
/// the report, its document (<c>drift --json</c>, <c>GET /api/v1/drift</c>) and whether it is below the threshold.</summary>
public sealed record DriftOutcome(DriftOperand? Left, DriftOperand? Right, IReadOnlyList<FactsFailure> Failures, DriftReport? Report, DriftDocument? Document)
{
    public bool Below => Document?.Failed == true;
}

/// <summary>
/// <c>drift A B</c> for every entry point: resolves both sides (collecting facts when a collector is given and stored
/// manifests are not asked for), compares them, audits the comparison as <paramref name="actor"/>, and announces
/// drift.threshold when asked to and the figure is below the threshold.
/// </summary>
public sealed class DriftWorkflow(StageproofConfig config, IStateStore store, TimeProvider time, IEventPublisher? events = null,
    FactsCollector? collector = null, IProgress<FactsProgress>? progress = null)
{
    /// <param name="left">A, the reference.</param>
    /// <param name="right">B, the one checked against it.</param>
    /// <param name="storedOnly">Compare the latest stored manifests rather than collecting now.</param>
    /// <param name="threshold">The minimum fidelity.</param>
    /// <param name="actor">Who compares, for the audit log.</param>
    /// <param name="announce">Publish drift.threshold when below the threshold.</param>
    /// <param name="refusal">Why the actor may not see a manifest (null: they may); asked of every manifest before
    /// anything is compared or audited.</param>
    /// <param name="ct">Cancels the comparison.</param>
    /// <exception cref="RefusedException">A manifest the actor may not see.</exception>
    public async Task<DriftOutcome> CompareAsync(string left, string right, bool storedOnly, double threshold, string actor, bool announce,
        CancellationToken ct, Func<Manifest, string?>? refusal = null)
    {
        var sides = new DriftOperands(config, store, time, collector, progress);
        var (a, failuresA) = await sides.ResolveAsync(left, storedOnly, ct).ConfigureAwait(false);
        var (b, failuresB) = await sides.ResolveAsync(right, storedOnly, ct).ConfigureAwait(false);
        if (refusal is not null && a.Manifests.Concat(b.Manifests).Select(refusal).FirstOrDefault(r => r is not null) is { } refused)
        {
            throw new RefusedException(GateRules.Role, refused);
        }
        var failures = failuresA.Concat(failuresB).ToList();
        if (failures.Count > 0)
        {
            return new DriftOutcome(a, b, failures, null, null);
        }

        var report = DriftReport.Compare(a, b, config.Drift);
        var failOn = config.Drift.FailOn;
        var below = report.Fails(threshold, failOn);
        await store.AppendAsync(new AuditEvent
        {
            Actor = actor,
            Action = "drift.compare",
            Target = $"{a.Label} vs {b.Label}",
            Outcome = $"fidelity {report.Fidelity.ToString("0.0000", CultureInfo.InvariantCulture)} ({report.Items} differences){(below ? ", below threshold" : "")}",
        }, ct).ConfigureAwait(false);
        if (below && announce && events is not null)
        {
            await PublishAsync(events, actor, a, b, report, threshold, ct).ConfigureAwait(false);
        }
        return new DriftOutcome(a, b, [], report, DriftDocument.Of(a.Label, b.Label, report.Fidelity, threshold, failOn, report.MaxSeverity, below, report.Detail));
    }

    /// <summary>drift.threshold: named by the environment compared (the right side's, else the left's).</summary>
    private async Task PublishAsync(IEventPublisher publisher, string actor, DriftOperand a, DriftOperand b, DriftReport report, double threshold, CancellationToken ct)
    {
        var fidelity = report.Fidelity.ToString("0.0000", CultureInfo.InvariantCulture);
        await publisher.PublishAsync(new WebhookEvent
        {
            Type = WebhookEventTypes.DriftThreshold,
            At = time.GetUtcNow(),
            Actor = actor,
            Environment = b.IsEnvironment ? b.Label : a.IsEnvironment ? a.Label : null,
            Summary = $"{a.Label} vs {b.Label}: fidelity {fidelity} below {threshold.ToString("0.####", CultureInfo.InvariantCulture)}" +
                      (report.MaxSeverity is { } worst ? $", worst difference {worst.Code()}" : "") + $" ({report.Items} differences)",
            Data = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["left"] = a.Label, ["right"] = b.Label, ["fidelity"] = fidelity,
                ["min_fidelity"] = threshold.ToString(CultureInfo.InvariantCulture), ["differences"] = report.Items.ToString(CultureInfo.InvariantCulture),
            },
        }, ct).ConfigureAwait(false);
    }
}

/// <summary>The drift between two environments from their stored manifests, or why there is none to show.</summary>
public sealed record StoredDrift(string From, string To, DriftReport? Report, string? Missing);

/// <summary>The estate's fidelity as the state has recorded it: each environment against the one it follows (its
/// <c>mirror_of</c>, else the lifecycle stage before it), compared from stored manifests only — never collected, never
/// audited (a page view is not a comparison anyone asked for).</summary>
public sealed class EstateFidelity(StageproofConfig config, IStateStore store, TimeProvider time)
{
    /// <summary>The environment <paramref name="environment"/> is measured against; null when it follows none.</summary>
    public string? ReferenceOf(string environment) =>
        config.Environments.GetValueOrDefault(environment)?.MirrorOf ?? config.Lifecycle.Previous(environment)?.Environment;

    /// <summary>Consecutive lifecycle stages, each pair once, earlier first.</summary>
    public IReadOnlyList<(string From, string To)> LifecyclePairs() =>
        config.Lifecycle.Stages.Zip(config.Lifecycle.Stages.Skip(1), (a, b) => (a.Environment, b.Environment)).ToList();

    public async Task<StoredDrift> CompareAsync(string from, string to, CancellationToken ct)
    {
        var sides = new DriftOperands(config, store, time);
        try
        {
            var (a, _) = await sides.ResolveAsync(from, storedOnly: true, ct).ConfigureAwait(false);
            var (b, _) = await sides.ResolveAsync(to, storedOnly: true, ct).ConfigureAwait(false);
            return new StoredDrift(from, to, DriftReport.Compare(a, b, config.Drift), null);
        }
        catch (InputException e)
        {
            return new StoredDrift(from, to, null, e.Message);
        }
    }
}
