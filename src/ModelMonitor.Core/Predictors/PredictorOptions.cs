namespace ModelMonitor.Core.Predictors;

/// <summary>Predictor registry settings (section "Predictors").</summary>
public sealed class PredictorOptions
{
    public const string SectionName = "Predictors";

    /// <summary>A registry file (YAML, docs/predictors.md) the API loads at start: its entries are registered with source
    /// "file" (the API then refuses to change them), and file entries removed from it are unregistered. Unset: none.</summary>
    public string? File { get; set; }

    /// <summary>How often the aggregator decides every predictor's primary (registered, or inferred from the last hour's
    /// traffic) and records changes.</summary>
    public TimeSpan PrimaryCheckInterval { get; set; } = TimeSpan.FromMinutes(1);

    public IReadOnlyList<string> Problems()
    {
        var errors = new List<string>();
        if (PrimaryCheckInterval < TimeSpan.FromSeconds(1) || PrimaryCheckInterval > TimeSpan.FromHours(1))
        {
            errors.Add($"Predictors:PrimaryCheckInterval must be between 1 s and 1 hour (got {PrimaryCheckInterval}).");
        }
        if (File is { Length: > 0 } file && !System.IO.File.Exists(file))
        {
            errors.Add($"Predictors:File: no file at '{Path.GetFullPath(file)}'.");
        }
        return errors;
    }
}
