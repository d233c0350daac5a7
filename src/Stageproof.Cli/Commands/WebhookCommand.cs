using System.CommandLine;
using Stageproof.Application.Views;
using System.Globalization;
using Spectre.Console;
using Stageproof.Core;
using Stageproof.Core.Validation;
using Stageproof.Core.Webhooks;

namespace Stageproof.Cli.Commands;

/// <summary><c>stageproof webhook deliveries</c> and <c>stageproof webhook test NAME</c>.</summary>
internal static class WebhookCommand
{
    public static Command Create(VerbContext verbs)
    {
        var command = new Command("webhook", "Webhooks configured in stageproof.yaml: what was sent and how it went, and a test event");
        command.Subcommands.Add(Deliveries(verbs));
        command.Subcommands.Add(Test(verbs));
        return command;
    }

    private static Command Deliveries(VerbContext verbs)
    {
        var limit = new Option<int>("--limit") { Description = "At most this many, newest first (default 50)", DefaultValueFactory = _ => 50 };
        var command = new Command("deliveries", "Webhook deliveries, newest first: event, webhook, status (pending, delivered, failed) and every attempt") { limit };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            if (parse.GetValue(limit) is < 1 or > 10_000)
            {
                throw new InputException($"--limit must be from 1 to 10000, not {parse.GetValue(limit)}");
            }
            IReadOnlyList<DeliverySummary> deliveries = session.Server is not null
                ? await session.Remote.GetAsync<List<DeliverySummary>>($"webhooks/deliveries?limit={parse.GetValue(limit)}", ct).ConfigureAwait(false)
                : (await (await session.StoreAsync(ct).ConfigureAwait(false)).ListDeliveriesAsync(parse.GetValue(limit), ct).ConfigureAwait(false))
                    .Select(DeliverySummary.Of).ToList();
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(deliveries);
                return ExitCodes.Ok;
            }
            if (deliveries.Count == 0)
            {
                session.Ui.Say("no webhook deliveries yet");
                return ExitCodes.Ok;
            }
            var table = new Table().Border(TableBorder.Simple).AddColumns("id", "webhook", "event", "status", "attempts", "created", "summary");
            foreach (var d in deliveries)
            {
                var colour = d.Status switch { "delivered" => "green", "failed" => "red", _ => "yellow" };
                table.AddRow(Infrastructure.Ui.Escape(d.Id), Infrastructure.Ui.Escape(d.Webhook), Infrastructure.Ui.Escape(d.Event),
                    $"[{colour}]{Infrastructure.Ui.Escape(d.Status)}[/]", Infrastructure.Ui.Escape(Attempts(d.Attempts)), $"{d.CreatedAt:u}", Infrastructure.Ui.Escape(d.Summary));
            }
            session.Ui.Human.Write(table);
            return ExitCodes.Ok;
        }, throughServer: true));
        return command;
    }

    /// <summary>"3: 500, 500, 200" — how many tries and what each got.</summary>
    private static string Attempts(WebhookDelivery d) => Attempts(d.Attempts);

    private static string Attempts(IReadOnlyList<DeliveryAttempt> attempts) =>
        attempts.Count.ToString(CultureInfo.InvariantCulture) + (attempts.Count == 0 ? "" :
            ": " + string.Join(", ", attempts.Select(a => a.StatusCode?.ToString(CultureInfo.InvariantCulture) ?? a.Error ?? "?")));

    private static Command Test(VerbContext verbs)
    {
        var name = new Argument<string>("NAME") { Description = "The webhook's name in stageproof.yaml" };
        var command = new Command("test", "Send a webhook.test event to one webhook and wait for how it went (all its attempts)") { name };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var wanted = parse.GetValue(name)!;
            var webhook = session.Config.Webhooks.FirstOrDefault(w => w.Name == wanted)
                ?? throw new InputException($"{session.Config.SourceFile}: webhook {Names.Show(wanted)} is not defined" +
                                            (session.Config.Webhooks.Count == 0 ? " (there is no webhooks: list)" : $" (known: {string.Join(", ", session.Config.Webhooks.Select(w => w.Name))})"));
            var dispatcher = await session.WebhooksAsync(ct).ConfigureAwait(false);
            var delivery = await dispatcher.SendTestAsync(webhook, session.Actor, ct).ConfigureAwait(false);
            await session.AuditAsync("webhook.test", webhook.Name, $"{delivery.Id}: {delivery.Status.ToString().ToLowerInvariant()} ({Attempts(delivery)})",
                cancellationToken: ct).ConfigureAwait(false);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(new { delivery.Id, delivery.Webhook, Status = delivery.Status.ToString().ToLowerInvariant(), delivery.Attempts });
            }
            else
            {
                session.Ui.Say($"{delivery.Id} to {webhook.Name} ({webhook.Url}): {delivery.Status.ToString().ToLowerInvariant()} after {Attempts(delivery)}");
            }
            return delivery.Status == DeliveryStatus.Delivered ? ExitCodes.Ok : ExitCodes.Infrastructure;
        }));
        return command;
    }
}
