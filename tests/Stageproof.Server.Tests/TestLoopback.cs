namespace Stageproof.Server.Tests;

/// <summary>
/// The loopback addresses the server's tests listen on. By default the ones written in the tests (127.0.9.x, 127.0.11.x,
/// 127.0.14.x, 127.0.16.x); with <c>STAGEPROOF_TEST_LOOPBACK=127.0.N</c> every one of them moves into 127.0.N.1–50, so
/// people sharing a machine can each keep to their own addresses: 127.0.A.B becomes 127.0.N.(10·(A−9)+B) for A in 9–11,
/// 127.0.N.(30+B) for A = 14 and 127.0.N.(40+B) for A = 16 (the webhook receiver takes 127.0.N.50).
/// </summary>
internal static class TestLoopback
{
    public static string Map(string address)
    {
        if (Environment.GetEnvironmentVariable("STAGEPROOF_TEST_LOOPBACK") is not { Length: > 0 } prefix)
        {
            return address;
        }
        var octets = address.Split('.');
        var (a, b) = (int.Parse(octets[2], System.Globalization.CultureInfo.InvariantCulture), int.Parse(octets[3], System.Globalization.CultureInfo.InvariantCulture));
        var last = a switch { 14 => 30 + b, 16 => 40 + b, _ => 10 * (a - 9) + b };
        return $"{prefix}.{last}";
    }

    /// <summary>An http URL on <paramref name="address"/> (mapped), port 0 unless given.</summary>
    public static string Url(string address, int port = 0) => $"http://{Map(address)}:{port}";

    /// <summary>How long a test's HTTP request to a server of the test may take before the test calls it stuck: a bound,
    /// not a measure of speed. 30 s was once too short for the first single sign-on of a class (the server's first
    /// request through its OpenID Connect handler and the provider) while CI's lab tests filled both cores.</summary>
    public static readonly TimeSpan RequestLiveness = TimeSpan.FromMinutes(2);
}
