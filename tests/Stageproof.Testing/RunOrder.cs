namespace Stageproof.Testing;

/// <summary>The order a test runs in within its class (the lifecycle tests share one lab whose prod they change; the
/// worker tests run their machine-loading one last).</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RunOrderAttribute(int order) : Attribute
{
    public int Order { get; } = order;
}

/// <summary>Runs a class's tests by <see cref="RunOrderAttribute"/> (unnumbered ones last):
/// <c>[TestCaseOrderer(RunOrderer.TypeName, RunOrderer.AssemblyName)]</c>.</summary>
public sealed class RunOrderer : Xunit.Sdk.ITestCaseOrderer
{
    public const string TypeName = "Stageproof.Testing.RunOrderer";
    public const string AssemblyName = "Stageproof.Testing";

    public IEnumerable<TTestCase> OrderTestCases<TTestCase>(IEnumerable<TTestCase> testCases) where TTestCase : Xunit.Abstractions.ITestCase =>
        testCases.OrderBy(t => t.TestMethod.Method.GetCustomAttributes(typeof(RunOrderAttribute).AssemblyQualifiedName!).FirstOrDefault()?.GetNamedArgument<int>(nameof(RunOrderAttribute.Order)) ?? int.MaxValue);
}
