using Stageproof.Core.Drift;
using Stageproof.Core.Patches;
using Stageproof.Core.Stage;

namespace Stageproof.Core.Tests.Stage;

/// <summary>What a change did beyond the manifest, read from the behaviour script's output and weighed by the policy.</summary>
public class BehaviourChangesTests
{
    private static readonly PatchSet Set = new()
    {
        Id = "P-1", Title = "t", Reason = "r", Severity = PatchSeverity.High, Author = "alice",
        Packages = [new PatchPackage("acme-mail", "1.1-1")],
    };

    private static readonly HashSet<string> Changed = new(StringComparer.Ordinal) { "acme-mail", "libacme1" };

    /// <summary>The script's output for a small host; <paramref name="extra"/> lines go into the named sections.</summary>
    private static string Output(params (string Section, string Line)[] extra)
    {
        var sections = new Dictionary<string, List<string>>
        {
            ["processes"] = ["0\t100\t1\t/usr/sbin/sshd\tsshd: /usr/sbin/sshd -f /etc/ssh/sshd_config [listener] 0 of 10-100 startups",
                             "1001\t200\t1\t/usr/lib/acme-mail/acme-mail\t/usr/lib/acme-mail/acme-mail --port 8080"],
            ["users"] = ["root:0", "acme:1001"],
            ["groups"] = ["root:0", "acme:1001"],
            ["privileged"] = ["4755\troot\t/usr/bin/passwd"],
            ["cron"] = ["d41d8cd98f00b204e9800998ecf8427e\t/etc/cron.d/acme-mail"],
            ["units"] = ["/etc/rc2.d/S01acme-mail\t../init.d/acme-mail"],
            ["modules"] = ["overlay"],
            ["etc"] = ["aaaa\t/etc/acme-mail/acme-mail.conf", "bbbb\t/etc/ssh/sshd_config", "cccc\t/etc/ld.so.cache", "dddd\t/etc/init.d/acme-mail"],
            ["owners"] = ["acme-mail\t/etc/acme-mail/acme-mail.conf", "openssh-server\t/etc/ssh/sshd_config", "acme-mail\t/etc/init.d/acme-mail",
                          "acme-mail\t/etc/cron.d/acme-mail", "passwd\t/usr/bin/passwd"],
            ["logs"] = ["120\t55\t/var/log/dpkg.log"],
            ["log-errors"] = [],
        };
        foreach (var (section, line) in extra)
        {
            if (line.StartsWith('-'))
            {
                sections[section].RemoveAll(l => l.EndsWith(line[1..], StringComparison.Ordinal));
            }
            else
            {
                sections[section].RemoveAll(l => l.Split('\t')[^1] == line.Split('\t')[^1] && section is "etc" or "owners" or "privileged");
                sections[section].Add(line);
            }
        }
        return "@@stageproof-behaviour 1\n" + string.Concat(sections.Select(s => $"@@{s.Key}\n" + string.Concat(s.Value.Select(l => l + "\n")))) + "@@end\n";
    }

    private static HostBehaviour Record(params (string, string)[] extra) => HostBehaviour.Parse(Output(extra));

    private static IReadOnlyList<ChangeItem> Classify(HostBehaviour after, PatchSet? set = null, IgnoreRules? ignore = null,
        IReadOnlySet<string>? judged = null) =>
        BehaviourChanges.Classify("app-1", Record(), after, set ?? Set, Changed, judged ?? new HashSet<string>(), ignore ?? IgnoreRules.None, new StagePolicy());

    [Fact]
    public void Nothing_changed_is_nothing_and_a_restart_with_new_numbers_in_the_title_is_the_same_process()
    {
        var restarted = Record(("processes", "-[listener] 0 of 10-100 startups"),
            ("processes", "0\t101\t1\t/usr/sbin/sshd\tsshd: /usr/sbin/sshd -f /etc/ssh/sshd_config [listener] 3 of 10-100 startups"));

        Assert.Empty(Classify(Record()));
        Assert.Empty(Classify(restarted));
    }

    [Fact]
    public void A_process_the_set_does_not_declare_fails_naming_user_command_and_executable()
    {
        // Its child of the moment (a sleep) is part of it, not a second finding.
        var after = Record(("processes", "0\t300\t1\t/usr/bin/dash\tsh -c while :; do echo ERROR >> /var/log/acme-sync.log; sleep 2; done acme-sync"),
            ("processes", "0\t301\t300\t/usr/bin/sleep\tsleep 2"));

        var item = Assert.Single(Classify(after));
        Assert.Equal(("process", StepStatus.Failed, false), (item.Category, item.Status, item.Expected));
        Assert.Equal("root: sh -c while :; do echo ERROR >> /var/log/acme-sync.log; sleep 2; done acme-sync (/usr/bin/dash)", item.After);
        Assert.Contains("does not declare (processes:)", item.Why, StringComparison.Ordinal);

        var declared = Assert.Single(Classify(after, Set with { Processes = ["sh -c while*acme-sync"] }));
        Assert.True(declared.Expected);
        Assert.Equal("declared by the set's processes: sh -c while*acme-sync", declared.Why);
    }

    [Fact]
    public void What_stage_allow_names_passes_with_the_rule_and_nothing_else_does()
    {
        var after = Record(("processes", "0\t400\t1\t/usr/sbin/zabbix_agentd\t/usr/sbin/zabbix_agentd -c /etc/zabbix/zabbix_agentd.conf"),
            ("log-errors", "/var/log/zabbix/zabbix_agentd.log\tERROR cannot connect to the server"),
            ("log-errors", "/var/log/acme-sync.log\tERROR refused"), ("users", "zabbix:115"));
        string[] allow = ["process:zabbix_agentd", "log:/var/log/zabbix/*", "account:zab*"];

        var items = BehaviourChanges.Classify("app-1", Record(), after, Set, Changed, new HashSet<string>(), IgnoreRules.None, new StagePolicy(), allow);

        Assert.Equal("allowed by stage.allow process:zabbix_agentd (a new long-running process the set does not declare (processes:))",
            items.Single(i => i.Category == "process").Why);
        Assert.True(items.Single(i => i.Key == "/var/log/zabbix/zabbix_agentd.log").Expected);
        Assert.True(items.Single(i => i.Category == "account").Expected);
        Assert.Equal(StepStatus.Failed, items.Single(i => i.Key == "/var/log/acme-sync.log").Status);
    }

    [Fact]
    public void Error_lines_in_a_log_no_check_reads_fail_once_per_log_with_the_first_line_and_drift_ignore_silences_them()
    {
        var after = Record(("log-errors", "/var/log/acme-sync.log\t2026-11-30T13:00:00Z ERROR acme-sync: refused"),
            ("log-errors", "/var/log/acme-sync.log\t2026-11-30T13:00:02Z ERROR acme-sync: refused"));

        var item = Assert.Single(Classify(after));
        Assert.Equal(("log", "/var/log/acme-sync.log", StepStatus.Failed), (item.Category, item.Key, item.Status));
        Assert.Equal("2 new error line(s), first: 2026-11-30T13:00:00Z ERROR acme-sync: refused", item.After);
        Assert.Empty(Classify(after, ignore: IgnoreRules.Parse(["file:/var/log/acme-sync.log"])));
    }

    [Fact]
    public void A_new_setuid_file_fails_unless_a_package_the_change_installs_owns_it()
    {
        var stray = Record(("privileged", "4755\troot\t/usr/local/bin/helper"));
        var item = Assert.Single(Classify(stray));
        Assert.Equal((StepStatus.Failed, "a new setuid file the set does not account for"), (item.Status, item.Why));

        var owned = Record(("privileged", "4755\troot\t/usr/lib/acme-mail/chkpwd"), ("owners", "acme-mail\t/usr/lib/acme-mail/chkpwd"));
        Assert.True(Assert.Single(Classify(owned)).Expected);

        var widened = Record(("privileged", "4777\troot\t/usr/bin/passwd"));
        var wide = Assert.Single(Classify(widened));
        Assert.Equal(StepStatus.Failed, wide.Status);
        Assert.Contains("4755 → 4777: group-writable, world-writable", wide.Why, StringComparison.Ordinal);
    }

    [Fact]
    public void Another_packages_etc_file_edited_fails_the_changed_packages_own_pass_and_an_unowned_one_warns()
    {
        var after = Record(("etc", "zzzz\t/etc/ssh/sshd_config"), ("etc", "eeee\t/etc/acme-mail/acme-mail.conf"),
            ("etc", "ffff\t/etc/acme-mail/extra.conf"), ("etc", "9999\t/etc/ld.so.cache"));

        var items = Classify(after).ToDictionary(i => i.Key);
        Assert.Equal(3, items.Count); // ld.so.cache changes with any library: never evidence
        Assert.Equal(StepStatus.Failed, items["/etc/ssh/sshd_config"].Status);
        Assert.Equal("a file of openssh-server, a package the change does not touch, was changed", items["/etc/ssh/sshd_config"].Why);
        Assert.True(items["/etc/acme-mail/acme-mail.conf"].Expected);
        Assert.Equal((StepStatus.Warned, "a file no package owns was added"), (items["/etc/acme-mail/extra.conf"].Status, items["/etc/acme-mail/extra.conf"].Why));

        // Tracked files are the manifest comparison's: not judged twice.
        Assert.DoesNotContain(Classify(after, judged: new HashSet<string> { "/etc/ssh/sshd_config" }), i => i.Key == "/etc/ssh/sshd_config");
    }

    [Fact]
    public void Dpkgs_copy_beside_a_conffile_of_a_changed_package_is_expected_and_never_residue()
    {
        var after = Record(("etc", "abcd\t/etc/acme-mail/acme-mail.conf.dpkg-dist"));

        Assert.True(Assert.Single(Classify(after)).Expected);
        Assert.Empty(BehaviourChanges.Residue("app-1", Record(), after, IgnoreRules.None));
    }

    [Fact]
    public void Users_cron_units_and_modules_warn_by_default_and_the_policy_can_make_them_fail()
    {
        var after = Record(("users", "sync:1002"), ("cron", "0123\t/etc/cron.d/acme-sync"), ("units", "/etc/rc2.d/S02acme-sync\t../init.d/acme-sync"),
            ("modules", "dummy"));

        var items = Classify(after);
        Assert.Equal(["account", "cron", "module", "unit"], items.Select(i => i.Category).Order(StringComparer.Ordinal));
        Assert.All(items, i => Assert.Equal(StepStatus.Warned, i.Status));
        var strict = BehaviourChanges.Classify("app-1", Record(), after, Set, Changed, new HashSet<string>(), IgnoreRules.None,
            new StagePolicy().With("accounts", StepStatus.Failed).With("scheduled", StepStatus.Failed));
        Assert.Equal(3, strict.Count(i => i.Status == StepStatus.Failed));
    }

    [Fact]
    public void A_rollback_that_leaves_a_started_process_a_user_or_a_cron_file_has_residue_named_per_host()
    {
        var after = Record(("processes", "0\t300\t1\t/usr/bin/dash\tsh -c sync-loop acme-sync"), ("users", "sync:1002"), ("cron", "0123\t/etc/cron.d/acme-sync"));

        var residue = BehaviourChanges.Residue("app-1", Record(), after, IgnoreRules.None);

        Assert.Equal([
            "app-1: process still running after the rollback: root: sh -c sync-loop acme-sync",
            "app-1: user left by the change: sync",
            "app-1: cron file left by the change: /etc/cron.d/acme-sync",
        ], residue);
    }

    [Fact]
    public void Another_packages_etc_file_still_edited_after_the_rollback_is_residue_and_a_changed_packages_kept_conffile_is_not()
    {
        var after = Record(("etc", "zzzz\t/etc/ssh/sshd_config"), ("etc", "eeee\t/etc/acme-mail/acme-mail.conf"));

        Assert.Equal(["app-1: /etc/ssh/sshd_config, a file of openssh-server, is still edited after the rollback"],
            BehaviourChanges.Residue("app-1", Record(), after, IgnoreRules.None, Changed));
    }

    [Theory]
    [InlineData("")]
    [InlineData("@@stageproof-facts 1\n@@end\n")]
    [InlineData("@@stageproof-behaviour 1\n@@processes\n")]
    public void Output_that_is_not_the_scripts_is_refused(string text) =>
        Assert.Throws<FormatException>(() => HostBehaviour.Parse(text));

    [Fact]
    public void The_logs_are_handed_back_to_the_after_run_as_the_script_prints_them()
    {
        var record = Record(("logs", "4096\t77\t/var/log/acme-sync.log"));

        Assert.Equal("120\t55\t/var/log/dpkg.log\n4096\t77\t/var/log/acme-sync.log\n", record.LogsInput());
    }
}
