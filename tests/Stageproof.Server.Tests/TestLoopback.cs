namespace Stageproof.Server.Tests;

/// <summary>The loopback address a test binds: its own, unless STAGEPROOF_TEST_LOOPBACK names one for every test (on a
/// machine shared with other people, whose tests own the usual addresses). Ports are picked free, so one address serves
/// every test at once.</summary>
internal static class TestLoopback
{
    public static string Or(string address) =>
        Environment.GetEnvironmentVariable("STAGEPROOF_TEST_LOOPBACK") is { Length: > 0 } moved ? moved : address;
}
