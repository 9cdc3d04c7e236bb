using Microsoft.Extensions.Options;

namespace Mesh.Grains.Configuration;

/// <summary>
/// An options class that checks itself. Each message names the configuration key it is about
/// (e.g. "Mesh:Inference:IdleTimeout must be positive (was 00:00:00)"), so a bad setting is found at start,
/// not at the first request.
/// </summary>
public interface IValidatedOptions
{
    IEnumerable<string> Validate();
}

public sealed class SelfValidatingOptions<T> : IValidateOptions<T> where T : class, IValidatedOptions
{
    public ValidateOptionsResult Validate(string? name, T options)
    {
        var errors = options.Validate().ToList();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
