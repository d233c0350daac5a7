using Xunit.Abstractions;
using Xunit.Sdk;

namespace Stageproof.Testing;

/// <summary>
/// Names the test collections of an assembly that must start before the others, longest first: xUnit starts only as
/// many collections as it has threads (two on this machine) and a new one only when one ends, so a collection of
/// several minutes that happens to start last makes the whole project that much longer. Each entry is a collection's
/// name (<c>[Collection("…")]</c>) or a test class's name (its own collection). Used with <see cref="StartFirstOrderer"/>:
/// <c>[assembly: TestCollectionOrderer(StartFirstOrderer.TypeName, StartFirstOrderer.AssemblyName)]</c>.
/// Only when collections start, never what they assert.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class StartFirstAttribute(params string[] collections) : Attribute
{
    public IReadOnlyList<string> Collections { get; } = collections;
}

/// <summary>
/// Orders the collections named by the assembly's <see cref="StartFirstAttribute"/> first, in its order, and every
/// other collection after them in the order they were discovered. A name that matches no collection (a filtered run
/// leaves some out) is passed over.
/// </summary>
public sealed class StartFirstOrderer : ITestCollectionOrderer
{
    public const string TypeName = "Stageproof.Testing.StartFirstOrderer";
    public const string AssemblyName = "Stageproof.Testing";

    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections)
    {
        var all = testCollections.ToList();
        if (all.Count == 0)
        {
            return all;
        }
        var first = all[0].TestAssembly.Assembly.GetCustomAttributes(typeof(StartFirstAttribute))
            .SelectMany(NamesIn)
            .ToList();
        return all.OrderBy(c => Rank(first, c)).ToList(); // OrderBy is stable: the rest keep their order
    }

    private static IEnumerable<string> NamesIn(IAttributeInfo attribute) => attribute is IReflectionAttributeInfo { Attribute: StartFirstAttribute named }
        ? named.Collections
        : ((System.Collections.IEnumerable)attribute.GetConstructorArguments().Single()).Cast<object>().Select(o => o.ToString()!);

    /// <summary>The collection's place among the named ones, or after all of them.</summary>
    private static int Rank(IReadOnlyList<string> first, ITestCollection collection)
    {
        for (var i = 0; i < first.Count; i++)
        {
            if (Names(collection, first[i]))
            {
                return i;
            }
        }
        return first.Count;
    }

    /// <summary>A named collection's display name is its name; a class's own is "Test collection for Namespace.Class".</summary>
    private static bool Names(ITestCollection collection, string name) =>
        collection.DisplayName == name
        || collection.DisplayName.EndsWith("." + name, StringComparison.Ordinal)
        || collection.DisplayName == "Test collection for " + name;
}
