using Stageproof.Lab;
using Stageproof.Testing;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Stageproof.Lab.Tests;

/// <summary>The Lab tests' lab: 127.0.110.x / 120 / 130 (+ clones 140...), ssh port 2322.</summary>
public sealed class LabFixture() : SharedLab(110, 2322)
{
    public static LabOptions Options(string dir, int octet) => SharedLab.Options(dir, octet);
}

[CollectionDefinition(Name)]
public sealed class LabCollection : ICollectionFixture<LabFixture>
{
    public const string Name = "lab";
}
