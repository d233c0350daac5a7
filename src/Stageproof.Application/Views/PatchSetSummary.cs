using Stageproof.Core.Patches;

namespace Stageproof.Application.Views;

/// <summary>One line of `patch list`: the same shape in the CLI's --json and the API.</summary>
public sealed record PatchSetSummary(string Digest, string Id, string Title, string Severity, string Author, string? Ticket, DateTimeOffset FrozenAt)
{
    public static PatchSetSummary Of(StoredPatchSet s) =>
        new(s.Digest, s.Set.Id, s.Set.Title, s.Set.Severity.ToString().ToLowerInvariant(), s.Set.Author, s.Set.Ticket, s.FrozenAt);
}
