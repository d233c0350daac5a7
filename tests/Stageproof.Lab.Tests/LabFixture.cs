using Stageproof.Lab;
using Stageproof.Testing;

namespace Stageproof.Lab.Tests;

/// <summary>The Lab tests' lab: 127.0.110.x / 120 / 130 (+ clones 140...), ssh port 2322.</summary>
public sealed class LabFixture() : SharedLab(110, 2322)
{
    public static LabOptions Options(string dir, int octet) => SharedLab.Options(dir, octet);
}

/// <summary>
/// The classes whose stages judge latency without a control twin, against their own noise floor (this lab's, the mail
/// estate's, the upstream lab's), one after the other, so that none of them measures another's load; the shared lab
/// is this collection's. Every other class of the project runs beside them (xUnit runs two collections at a time on
/// two cores): each lab has its own addresses, ports and directory.
/// </summary>
[CollectionDefinition(Name)]
public sealed class LabCollection : ICollectionFixture<LabFixture>
{
    public const string Name = "lab";
}
