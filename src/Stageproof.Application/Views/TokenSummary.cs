using Stageproof.Core.Lifecycle;

namespace Stageproof.Application.Views;

/// <summary>One line of `token list`: never the secret or its hash. The same shape in the CLI's --json and the API.</summary>
public sealed record TokenSummary(
    string Id, string User, DateTimeOffset CreatedAt, string CreatedBy, DateTimeOffset? ExpiresAt, string? Role, IReadOnlyList<string>? Environments,
    DateTimeOffset? RevokedAt, string? RevokedBy, bool Usable, string? Why)
{
    public static TokenSummary Of(ApiToken t, DateTimeOffset now) =>
        new(t.Id, t.User, t.CreatedAt, t.CreatedBy, t.ExpiresAt, t.Role is { } r ? AccessPolicy.Name(r) : null, t.Environments,
            t.RevokedAt, t.RevokedBy, t.Unusable(now) is null, t.Unusable(now));
}
