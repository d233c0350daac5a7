using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Http;
using Stageproof.Application.Identity;
using Stageproof.Core.Configuration;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.State;
using Stageproof.Server.Auth;

namespace Stageproof.Server.Console;

/// <summary>What every console page needs: who is looking, the state, the configuration, and the access policy's
/// answers for them. Pages render on the server only; nothing in them runs in the browser.</summary>
public abstract class ConsolePage : ComponentBase
{
    [CascadingParameter] public HttpContext? HttpContext { get; set; }
    [Inject] public IStateStore Store { get; set; } = null!;
    [Inject] public StageproofConfig Config { get; set; } = null!;
    [Inject] public TimeProvider Time { get; set; } = null!;

    protected Principal Me => Principals.FromClaims(HttpContext!.User);

    protected bool MayRead(string environment) => Me.User is { } u && AccessPolicy.MayRead(u, environment);

    protected bool MayApprove(string environment) => Me.User is { } u && AccessPolicy.MayApprove(u, environment);

    /// <summary>Promoting into <paramref name="environment"/>, and so aborting or resuming its rollouts.</summary>
    protected bool MayPromote(string environment) =>
        Me.User is { } u && AccessPolicy.MayPromote(u, environment, Config.Lifecycle.StageOf(environment)?.Roles);

    protected static string Short(string digest) => digest.Length > 12 ? digest[..12] : digest;

    protected static string When(DateTimeOffset? t) =>
        t is { } v ? v.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) + " UTC" : "–";

    /// <summary>States as the console writes them ("rolledback"), in its pages and its live events alike.</summary>
    protected internal static string Lower<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();
}
