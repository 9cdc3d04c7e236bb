using System.Text.RegularExpressions;
using Mesh.Abstractions.Errors;

namespace Mesh.Abstractions.Models;

/// <summary>
/// The rule for model names. Names become URL path segments in the inference API and keys in every store,
/// so they are kept to characters that need no escaping anywhere.
/// </summary>
public static partial class ModelName
{
    public const int MaxLength = 128;

    /// <summary>Throws <see cref="InvalidModelNameException"/> unless <paramref name="name"/> follows the rule.</summary>
    public static void Validate(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxLength || !Pattern().IsMatch(name))
            throw new InvalidModelNameException(name, $"a model name is 1 to {MaxLength} characters of A-Z, a-z, 0-9, '.', '_' or '-', starting with a letter or digit");
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    private static partial Regex Pattern();
}
