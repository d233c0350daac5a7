using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Stageproof.Core.Configuration.Internal;
using Stageproof.Testing;

namespace Stageproof.Core.Tests.Configuration;

/// <summary>
/// The parity corpus: each folder under Inventories/ holds an inventory (with its group_vars/ and host_vars/) and
/// either expected.json — what `ansible-inventory -i INVENTORY --list` printed for it — or refused.txt, the file and
/// line Ansible refuses. Stageproof must load the same hosts, groups and variables, and refuse the same files.
/// </summary>
public sealed class InventoryParityTests
{
    private static readonly string CorpusRoot = Path.Combine(AppContext.BaseDirectory, "Configuration", "Inventories");

    public static TheoryData<string> Accepted => new(Cases().Where(c => System.IO.File.Exists(Path.Combine(CorpusRoot, c, "expected.json"))));

    public static TheoryData<string> Refused => new(Cases().Where(c => System.IO.File.Exists(Path.Combine(CorpusRoot, c, "refused.txt"))));

    private static IEnumerable<string> Cases() =>
        Directory.EnumerateDirectories(CorpusRoot).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal);

    /// <summary>The one inventory file of a case: the file that is neither the expectation nor the refusal.</summary>
    private static string InventoryOf(string name) =>
        Assert.Single(Directory.EnumerateFiles(Path.Combine(CorpusRoot, name)), f => Path.GetFileName(f) is not ("expected.json" or "refused.txt"));

    [Fact]
    public void The_corpus_has_at_least_twelve_accepted_inventories() =>
        Assert.True(Accepted.Count >= 12, $"only {Accepted.Count} accepted inventories in {CorpusRoot}");

    [Theory]
    [MemberData(nameof(Accepted))]
    public void Stageproof_loads_what_ansible_inventory_lists(string name)
    {
        var file = InventoryOf(name);
        var problems = new ProblemList();
        var inventory = AnsibleInventory.Read(file, System.IO.File.ReadAllText(file), problems, new ProblemList());
        Assert.Empty(problems.All);

        var expected = JsonNode.Parse(System.IO.File.ReadAllText(Path.Combine(CorpusRoot, name, "expected.json")))!.AsObject();
        var (expectedHosts, expectedGroups) = Membership(expected);
        Assert.Equal(expectedHosts.Keys.Order(StringComparer.Ordinal), inventory.Hosts.Keys.Order(StringComparer.Ordinal));
        foreach (var (host, groups) in expectedHosts)
        {
            var loaded = inventory.GroupsOf(inventory.Hosts[host]).Select(g => g.Name).Where(g => g != "all").Order(StringComparer.Ordinal);
            Assert.True(groups.Order(StringComparer.Ordinal).SequenceEqual(loaded),
                $"{name}: host {host} is in [{string.Join(", ", loaded)}], ansible-inventory says [{string.Join(", ", groups.Order(StringComparer.Ordinal))}]");
        }
        foreach (var group in expectedGroups)
        {
            Assert.True(inventory.Groups.ContainsKey(group), $"{name}: group {group} is missing");
        }

        var hostvars = expected["_meta"]?["hostvars"]?.AsObject() ?? [];
        foreach (var host in inventory.Hosts.Values)
        {
            var want = Canonical(hostvars[host.Name] ?? new JsonObject());
            var got = Canonical(ToJson(inventory.EffectiveVars(host).ToDictionary(kv => kv.Key, kv => kv.Value.Value)));
            Assert.True(want == got, $"{name}: variables of {host.Name}\n  ansible-inventory: {want}\n  stageproof:        {got}");
        }
    }

    [Theory]
    [MemberData(nameof(Refused))]
    public void Stageproof_refuses_what_ansible_refuses_naming_the_file_and_line(string name)
    {
        var file = InventoryOf(name);
        var problems = new ProblemList();
        AnsibleInventory.Read(file, System.IO.File.ReadAllText(file), problems, new ProblemList());

        var expected = System.IO.File.ReadAllText(Path.Combine(CorpusRoot, name, "refused.txt")).Trim();
        var colon = expected.LastIndexOf(':');
        var (path, line) = (Path.Combine(CorpusRoot, name, expected[..colon]), int.Parse(expected[(colon + 1)..], CultureInfo.InvariantCulture));
        Assert.Contains(problems.All, p => p.File == path && p.Line == line);
    }

    /// <summary>
    /// The recorded expectations are still what ansible-inventory prints (CI installs Ansible, so there this never
    /// skips). All cases run at once: each is a Python start-up of about a second.
    /// </summary>
    [SkippableFact]
    public async Task The_recorded_expectations_are_what_ansible_inventory_prints_today()
    {
        const string ansibleInventory = "/usr/bin/ansible-inventory";
        Requires.Executable(ansibleInventory);
        var temp = Directory.CreateTempSubdirectory("stageproof-ansible-");
        try
        {
            var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
            await Parallel.ForEachAsync(Cases(), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (name, ct) =>
            {
                var file = InventoryOf(name);
                var start = new ProcessStartInfo(ansibleInventory)
                {
                    WorkingDirectory = Path.GetDirectoryName(file)!,
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                };
                start.ArgumentList.Add("-i");
                start.ArgumentList.Add(Path.GetFileName(file));
                start.ArgumentList.Add("--list");
                start.Environment["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "true";
                start.Environment["ANSIBLE_LOCAL_TEMP"] = temp.FullName;
                start.Environment["ANSIBLE_HOME"] = temp.FullName;
                start.Environment["ANSIBLE_NOCOLOR"] = "1";
                using var process = Process.Start(start)!;
                var stdout = process.StandardOutput.ReadToEndAsync(ct);
                var stderr = process.StandardError.ReadToEndAsync(ct);
                await process.WaitForExitAsync(ct);
                var expectedFile = Path.Combine(CorpusRoot, name, "expected.json");
                if (System.IO.File.Exists(expectedFile))
                {
                    var want = Canonical(JsonNode.Parse(await System.IO.File.ReadAllTextAsync(expectedFile, ct)));
                    var got = process.ExitCode == 0 ? Canonical(JsonNode.Parse(await stdout)) : $"exit {process.ExitCode}: {await stderr}";
                    if (want != got)
                    {
                        failures.Add($"{name}: recorded {want}\n   ansible-inventory now {got}");
                    }
                }
                else if (process.ExitCode == 0)
                {
                    failures.Add($"{name}: recorded as refused, but ansible-inventory now reads it: {await stdout}");
                }
            });
            Assert.True(failures.IsEmpty, string.Join("\n", failures));
        }
        finally
        {
            temp.Delete(recursive: true);
        }
    }

    /// <summary>Hosts with every group they are in (through children too, 'all' left out), and the group names.</summary>
    private static (Dictionary<string, HashSet<string>> Hosts, List<string> Groups) Membership(JsonObject listing)
    {
        var parents = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var direct = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        var groups = listing.Select(kv => kv.Key).Where(k => k != "_meta").ToList();
        foreach (var group in groups)
        {
            foreach (var child in listing[group]?["children"]?.AsArray() ?? [])
            {
                var childName = child!.GetValue<string>();
                if (!parents.TryGetValue(childName, out var list))
                {
                    parents[childName] = list = [];
                }
                list.Add(group);
            }
            foreach (var host in listing[group]?["hosts"]?.AsArray() ?? [])
            {
                var hostName = host!.GetValue<string>();
                if (!direct.TryGetValue(hostName, out var set))
                {
                    direct[hostName] = set = new HashSet<string>(StringComparer.Ordinal);
                }
                set.Add(group);
            }
        }
        foreach (var host in listing["_meta"]?["hostvars"]?.AsObject().Select(kv => kv.Key) ?? [])
        {
            direct.TryAdd(host, new HashSet<string>(StringComparer.Ordinal));
        }
        var result = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var (host, set) in direct)
        {
            var all = new HashSet<string>(StringComparer.Ordinal);
            var queue = new Queue<string>(set);
            while (queue.Count > 0)
            {
                var g = queue.Dequeue();
                if (all.Add(g))
                {
                    foreach (var p in parents.GetValueOrDefault(g) ?? [])
                    {
                        queue.Enqueue(p);
                    }
                }
            }
            all.Remove("all");
            result[host] = all;
        }
        return (result, groups);
    }

    private static JsonNode? ToJson(object? value) => value switch
    {
        null => null,
        string s => JsonValue.Create(s),
        long l => JsonValue.Create(l),
        double d => JsonValue.Create(d),
        bool b => JsonValue.Create(b),
        List<object?> list => new JsonArray(list.Select(ToJson).ToArray()),
        Dictionary<string, object?> map => new JsonObject(map.Select(kv => KeyValuePair.Create(kv.Key, ToJson(kv.Value)))),
        _ => JsonValue.Create(value.ToString()),
    };

    /// <summary>One text per value: object keys sorted, numbers as doubles, so equal values compare equal.</summary>
    private static string Canonical(JsonNode? node)
    {
        var sb = new StringBuilder();
        Write(node);
        return sb.ToString();

        void Write(JsonNode? n)
        {
            switch (n)
            {
                case null:
                    sb.Append("null");
                    break;
                case JsonObject o:
                    sb.Append('{');
                    foreach (var (k, v) in o.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    {
                        sb.Append(JsonSerializer.Serialize(k)).Append(':');
                        Write(v);
                        sb.Append(',');
                    }
                    sb.Append('}');
                    break;
                case JsonArray a:
                    sb.Append('[');
                    foreach (var v in a)
                    {
                        Write(v);
                        sb.Append(',');
                    }
                    sb.Append(']');
                    break;
                case JsonValue v when v.GetValueKind() == JsonValueKind.Number:
                    sb.Append(double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture).ToString("R", CultureInfo.InvariantCulture));
                    break;
                default:
                    sb.Append(n.ToJsonString());
                    break;
            }
        }
    }
}
