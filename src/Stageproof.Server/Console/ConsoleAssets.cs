namespace Stageproof.Server.Console;

/// <summary>The console's stylesheet and its one script, served from this server (the CSP allows nothing else).</summary>
internal static class ConsoleAssets
{
    public const string Css = """
        :root { --fg: #1d2330; --muted: #667085; --line: #d0d5dd; --ok: #067647; --bad: #b42318; --bg: #f9fafb; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
        header { display: flex; justify-content: space-between; align-items: center; padding: .6rem 1.2rem; background: #fff; border-bottom: 1px solid var(--line); }
        nav a { margin-right: 1rem; color: var(--fg); text-decoration: none; }
        nav a.brand { font-weight: 700; }
        main { padding: 1rem 1.2rem; max-width: 80rem; }
        table { border-collapse: collapse; width: 100%; background: #fff; margin: .5rem 0 1rem; }
        th, td { border-bottom: 1px solid var(--line); padding: .35rem .5rem; text-align: left; vertical-align: top; }
        th { font-weight: 600; color: var(--muted); }
        .muted { color: var(--muted); }
        .verdict.pass, .ok, .state.verified, .state.passed, .status.succeeded { color: var(--ok); font-weight: 600; }
        .verdict.fail, .refused, .forged, .state.failed, .state.rolledback, .status.rolledback, .status.needsattention, .state.needsattention { color: var(--bad); font-weight: 600; }
        .notice { padding: .5rem .75rem; border: 1px solid currentColor; border-radius: 4px; background: #fff; }
        form.approve, form.control, form.token { display: flex; flex-wrap: wrap; align-items: center; gap: .4rem; margin: .3rem 0; }
        #token-secret { user-select: all; word-break: break-all; }
        form.login { display: grid; gap: .6rem; max-width: 22rem; }
        form.login label { display: grid; gap: .2rem; }
        dl.record { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
        dl.record dt { color: var(--muted); }
        button { cursor: pointer; }
        pre.diff { background: #fff; border: 1px solid var(--line); padding: .5rem; overflow: auto; }
        a.button { display: inline-block; padding: .35rem .8rem; border: 1px solid var(--line); border-radius: 4px; text-decoration: none; }
        """;

    /// <summary>Follows a rollout's event stream and updates the states on its page, as text (never as markup).</summary>
    public const string Script = """
        "use strict";
        document.addEventListener("DOMContentLoaded", () => {
          const status = document.getElementById("rollout-status");
          if (!status || !status.dataset.live) return;
          const events = new EventSource(status.dataset.live);
          events.onmessage = (message) => {
            const rollout = JSON.parse(message.data);
            status.textContent = rollout.status;
            for (const batch of rollout.batches) {
              const cell = document.querySelector(`tr[data-batch="${batch.index}"] .state`);
              if (cell) { cell.textContent = batch.state; cell.className = "state " + batch.state; }
            }
            for (const host of rollout.hosts) {
              const row = Array.from(document.querySelectorAll("tr[data-host]")).find((r) => r.dataset.host === host.host);
              if (!row) continue;
              row.querySelector(".state").textContent = host.state;
              row.querySelector(".state").className = "state " + host.state;
              row.querySelector(".message").textContent = host.message || "";
            }
            if (rollout.status !== "running") events.close();
          };
        });
        """;
}
