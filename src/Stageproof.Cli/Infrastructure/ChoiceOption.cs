using System.CommandLine;
using System.Globalization;

namespace Stageproof.Cli.Infrastructure;

/// <summary>
/// An option whose value is one of an enum's names in lower case (<c>--directory auto|keep|restore</c>). Any other value
/// is refused naming the option and its choices (exit 2), where System.CommandLine would name the .NET type.
/// </summary>
internal static class ChoiceOption
{
    public static Option<T> Create<T>(string name, string description, T defaultValue) where T : struct, Enum
    {
        var choices = Enum.GetNames<T>().Select(n => n.ToLowerInvariant()).ToArray();
        return new Option<T>(name)
        {
            Description = description,
            HelpName = string.Join('|', choices),
            DefaultValueFactory = _ => defaultValue,
            CustomParser = result =>
            {
                var text = result.Tokens.Count == 0 ? "" : result.Tokens[^1].Value;
                // Names only: Enum.TryParse would also take "1" or "keep,restore".
                if (choices.Contains(text.ToLowerInvariant(), StringComparer.Ordinal))
                {
                    return Enum.Parse<T>(text, ignoreCase: true);
                }
                result.AddError(string.Create(CultureInfo.InvariantCulture, $"{name}: '{text}' is not one of {string.Join(", ", choices)}"));
                return defaultValue;
            },
        };
    }
}
