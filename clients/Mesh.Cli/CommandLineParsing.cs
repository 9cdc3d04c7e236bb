using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Mesh.Cli;

/// <summary>How the mesh command reads its command line: bad input exits with <see cref="ExitCodes.Usage"/>, durations read as people write them.</summary>
public static partial class CommandLineParsing
{
    /// <summary>Parses and runs; a command line that does not parse prints its errors and exits 2, as the README promises.</summary>
    public static async Task<int> InvokeAsync(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        // System.CommandLine's own error action exits 1, which the CLI keeps for "the mesh refused it".
        if (parse.Action is ParseErrorAction)
        {
            foreach (var error in parse.Errors) Console.Error.WriteLine($"error: {error.Message}");
            Console.Error.WriteLine($"see '{string.Join(' ', CommandPath(parse.CommandResult))} --help'");
            return ExitCodes.Usage;
        }
        return await parse.InvokeAsync();
    }

    private static IEnumerable<string> CommandPath(CommandResult? result)
    {
        var names = new Stack<string>();
        for (var r = result; r is not null; r = r.Parent as CommandResult)
            names.Push(r.Parent is null ? "mesh" : r.Command.Name);
        return names;
    }

    /// <summary>An option for a duration: 250ms, 5s, 2m, 1h, 1d, a plain TimeSpan (00:00:05), or a number of seconds.</summary>
    public static Option<TimeSpan?> DurationOption(string name, string description) => new(name)
    {
        Description = description + " (e.g. 250ms, 5s, 2m or 00:00:05)",
        CustomParser = result =>
        {
            var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
            if (TryParseDuration(text, out var value)) return value;
            result.AddError($"{name}: '{text}' is not a duration; write it like 250ms, 5s, 2m, 1h or 00:00:05");
            return null;
        },
    };

    public static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = default;
        var match = DurationPattern().Match(text.Trim());
        if (match.Success)
        {
            var amount = double.Parse(match.Groups["amount"].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);
            var milliseconds = match.Groups["unit"].Value switch
            {
                "us" or "µs" => amount / 1000,
                "ms" => amount,
                "" or "s" => amount * 1000,
                "m" or "min" => amount * 60_000,
                "h" => amount * 3_600_000,
                _ => amount * 86_400_000,
            };
            if (milliseconds > TimeSpan.MaxValue.TotalMilliseconds) return false;
            value = TimeSpan.FromMilliseconds(milliseconds);
            return true;
        }
        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value) && value >= TimeSpan.Zero;
    }

    [GeneratedRegex(@"^(?<amount>\d+(\.\d+)?)(?<unit>us|µs|ms|s|min|m|h|d)?$")]
    private static partial Regex DurationPattern();
}
