namespace ModelMonitor.Core.Security;

/// <summary>What a key may do. Each write endpoint requires one scope; reads of the admin APIs need any valid key.</summary>
public static class ApiScopes
{
    /// <summary>POST /v1/predictions.</summary>
    public const string WritePredictions = "write:predictions";

    /// <summary>POST /v1/outcomes.</summary>
    public const string WriteOutcomes = "write:outcomes";

    /// <summary>References, the predictor registry and keys.</summary>
    public const string Admin = "admin";

    public static IReadOnlyList<string> All { get; } = [WritePredictions, WriteOutcomes, Admin];

    /// <summary>Reads a comma-separated list; the error names an unknown scope and the known ones.</summary>
    public static IReadOnlyList<string> Parse(string text, out string? error)
    {
        error = null;
        var scopes = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct(StringComparer.Ordinal).ToList();
        if (scopes.Count == 0)
        {
            error = $"at least one scope is needed: {string.Join(", ", All)}";
        }
        else if (scopes.FirstOrDefault(s => !All.Contains(s, StringComparer.Ordinal)) is { } unknown)
        {
            error = $"unknown scope '{unknown}': the scopes are {string.Join(", ", All)}";
        }
        return scopes;
    }
}
