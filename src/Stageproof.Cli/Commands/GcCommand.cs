using System.CommandLine;
using System.Globalization;
using Stageproof.Core;
using Stageproof.Core.Retention;
using Stageproof.Core.Validation;
using Stageproof.Hosts.Apply;
using Stageproof.Hosts.Artifacts;

namespace Stageproof.Cli.Commands;

/// <summary><c>stageproof gc [--keep-days N] [--dry-run]</c>: removes kept .debs, snapshot repositories and database dumps
/// nothing needs any more; never what an active rollback point needs.</summary>
internal static class GcCommand
{
    public static Command Create(VerbContext verbs)
    {
        var keepDays = new Option<int>("--keep-days")
        {
            Description = "Keep whatever was written, proven or installed in the last N days (default 30)",
            DefaultValueFactory = _ => 30,
        };
        var dryRun = new Option<bool>("--dry-run") { Description = "Say what would be removed, and remove nothing" };
        var command = new Command("gc", "Remove artifacts, snapshot repositories and database dumps no active rollback point, running promotion or recent record needs")
        {
            keepDays, dryRun,
        };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var days = parse.GetValue(keepDays);
            if (days < 0)
            {
                throw new InputException($"--keep-days: {days.ToString(CultureInfo.InvariantCulture)} is negative; give 0 or more days");
            }
            var dry = parse.GetValue(dryRun);
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            var publisher = new SnapshotPublisher(session.StateDirectory);
            var dumpsRoot = PatchEngine.DumpsDirectory(session.StateDirectory);
            var plan = RetentionPlanner.Plan(new RetentionInput
            {
                Now = session.Time.GetUtcNow(),
                Keep = TimeSpan.FromDays(days),
                Points = await store.ListRollbackPointsAsync(null, ct).ConfigureAwait(false),
                Runs = await store.ListPatchRunsAsync(null, ct).ConfigureAwait(false),
                Stages = await store.ListStageResultsAsync(null, null, ct).ConfigureAwait(false),
                Rollouts = await store.ListRolloutsAsync(null, ct).ConfigureAwait(false),
                Artifacts = publisher.Artifacts.List().Select(a => new StoredArtifact(a.Sha256, a.Size, new DateTimeOffset(a.WrittenUtc, TimeSpan.Zero))).ToList(),
                Dumps = Directory.Exists(dumpsRoot)
                    ? Directory.EnumerateDirectories(dumpsRoot).Select(d => new StoredDump(Path.GetFileName(d), d, SizeOf(d),
                        new DateTimeOffset(Directory.GetLastWriteTimeUtc(d), TimeSpan.Zero))).ToList()
                    : [],
            });
            // Snapshot repositories are derived from their closure: one whose closure is not kept goes, and is rebuilt if ever needed.
            var snapshots = Directory.Exists(publisher.Root)
                ? Directory.EnumerateDirectories(publisher.Root).Where(d => !plan.KeptClosures.Contains(Path.GetFileName(d)))
                    .Select(d => new RetentionItem("snapshot", Path.GetFileName(d), SizeOf(d), "its closure is not kept")).ToList()
                : [];
            var remove = plan.Remove.Concat(snapshots).ToList();

            if (!dry)
            {
                foreach (var item in remove)
                {
                    switch (item.Kind)
                    {
                        case "artifact":
                            publisher.Artifacts.Remove(item.Id);
                            break;
                        case "dump":
                            Directory.Delete(Path.Combine(dumpsRoot, item.Id), recursive: true);
                            break;
                        default:
                            Directory.Delete(Path.Combine(publisher.Root, item.Id), recursive: true);
                            break;
                    }
                }
                await session.AuditAsync("gc", "state", $"removed {Count(remove)}, {InputFiles.Size(remove.Sum(r => r.Size))}; kept {Count(plan.Keep)} (keep-days {days.ToString(CultureInfo.InvariantCulture)})",
                    cancellationToken: ct).ConfigureAwait(false);
            }
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(new { dryRun = dry, keepDays = days, removed = remove, kept = plan.Keep, keptClosures = plan.KeptClosures });
                return ExitCodes.Ok;
            }
            foreach (var item in remove)
            {
                session.Ui.Say($"{(dry ? "would remove" : "removed")} {item.Kind} {Short(item)} ({InputFiles.Size(item.Size)}): {item.Why}");
            }
            foreach (var item in plan.Keep)
            {
                session.Ui.Say($"kept {item.Kind} {Short(item)}: {item.Why}");
            }
            session.Ui.Say($"{(dry ? "Would remove" : "Removed")} {Count(remove)} ({InputFiles.Size(remove.Sum(r => r.Size))}); kept {Count(plan.Keep)}.");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static string Short(RetentionItem item) => item.Kind == "dump" ? item.Id : item.Id[..Math.Min(12, item.Id.Length)];

    private static string Count(IReadOnlyCollection<RetentionItem> items) => items.Count.ToString(CultureInfo.InvariantCulture) + " item(s)";

    private static long SizeOf(string directory) =>
        new DirectoryInfo(directory).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
}
