using System.Data.Common;
using System.Globalization;

namespace Stageproof.Core.Validation;

/// <summary>
/// What can be known of a database connection string without a driver: that it is <c>Key=Value;</c> pairs and that
/// its numeric keys are numbers, so "Port=abc" is a configuration error at load, not a crash when a check first
/// connects. Messages name the key, never the value of a key that may hold a secret.
/// </summary>
public static class ConnectionStrings
{
    private static readonly (string Key, int Min, int Max)[] Numbers =
    [
        ("port", 1, 65535),
        ("timeout", 0, 1024),
        ("command timeout", 0, int.MaxValue),
        ("keepalive", 0, int.MaxValue),
        ("maximum pool size", 1, 1024),
        ("minimum pool size", 0, 1024),
    ];

    /// <summary>The first problem of <paramref name="connectionString"/>, or null when it is well formed.</summary>
    public static string? Problem(string connectionString)
    {
        var builder = new DbConnectionStringBuilder();
        try
        {
            builder.ConnectionString = connectionString;
        }
        catch (ArgumentException)
        {
            return "not a connection string of Key=Value; pairs (e.g. \"Host=127.0.0.1;Port=5432;Database=mail;Username=acme\")";
        }
        foreach (var (key, min, max) in Numbers)
        {
            if (builder.TryGetValue(key, out var raw) && raw is not null)
            {
                var text = Convert.ToString(raw, CultureInfo.InvariantCulture)!.Trim();
                if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
                {
                    return $"{Title(key)} must be a whole number from {min} to {max}, got {Names.Show(text)}";
                }
            }
        }
        return null;
    }

    private static string Title(string key) => CultureInfo.InvariantCulture.TextInfo.ToTitleCase(key);
}
