using Stageproof.Lab;
using Stageproof.Testing;

namespace Stageproof.Lab.Tests;

/// <summary>The Lab tests' lab: 127.0.110.x / 120 / 130 (+ clones 140...), ssh port 2322.</summary>
public sealed class LabFixture() : SharedLab(110, 2322)
{
    public static LabOptions Options(string dir, int octet) => SharedLab.Options(dir, octet);
}

/// <summary>
/// The classes whose stages judge latency without a control twin, against their own noise floor (this lab's and the
/// mail estate's), one after the other; the shared lab is this collection's. Every other class of the project runs
/// beside them (xUnit runs two collections at a time on two cores), each lab with its own addresses, ports and
/// directory. <see cref="UpstreamLabTests"/> runs beside this collection and starts second (Order.cs): it is about
/// which bytes reach prod, its stage has no load checks (it gives the gate a PASS) and so judges no latency and holds
/// no lock; it is as busy a neighbour as Stageproof.Cli.Tests' stages, which run beside these anyway.
/// Each class here that stages holds <see cref="JudgesLatency"/> for its run, so no test that
/// loads the machine in bursts (<see cref="LoadsMachine"/>: the CLI's SIGKILL trials, the worker kill test) runs beside
/// it: before, the SIGKILL trials and a second mail estate coming up (since folded into <see cref="MailEstateLabTests"/>)
/// ran beside the mail estate's slapd stage, and its login p95 went from 66 ms to 224 ms, a false FAIL.
/// </summary>
[CollectionDefinition(Name)]
public sealed class LabCollection : ICollectionFixture<LabFixture>
{
    public const string Name = "lab";
}
