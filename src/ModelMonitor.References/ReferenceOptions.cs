using Microsoft.Extensions.Options;

namespace ModelMonitor.References;

/// <summary>Reference profiles: upload limits and how an upload is cut into the chunks its thresholds come from
/// (section "References"; README "Drift").</summary>
public sealed class ReferenceOptions
{
    public const string SectionName = "References";

    /// <summary>The largest upload body; past it 413. Default 2 GiB.</summary>
    public long MaxUploadBytes { get; set; } = 2L * 1024 * 1024 * 1024;

    /// <summary>The most rows an upload may have; past it 413. Default 50 million.</summary>
    public long MaxUploadRows { get; set; } = 50_000_000;

    /// <summary>The most columns (features) an upload may have, as a prediction may have features.</summary>
    public int MaxColumns { get; set; } = 2_000;

    /// <summary>The longest category (text cell), as the ingestion API allows.</summary>
    public int MaxStringLength { get; set; } = 1_024;

    /// <summary>Rows per chunk of an upload: the chunks are the uploaded reference's own windows, whose distances to the
    /// whole give its adaptive thresholds (so this is the window size the thresholds assume).</summary>
    public int ChunkRows { get; set; } = 1_000;

    /// <summary>Chunks kept (a uniform sample) for the thresholds.</summary>
    public int MaxChunks { get; set; } = 50;

    /// <summary>The trailing period a production reference describes (default the 7 days ending <see cref="ProductionLag"/> ago).</summary>
    public TimeSpan ProductionPeriod { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long before now the production period ends, so the windows being judged are not in it.</summary>
    public TimeSpan ProductionLag { get; set; } = TimeSpan.FromDays(1);

    /// <summary>A production reference is rebuilt once it is this old (a model younger than its period: every check).</summary>
    public TimeSpan ProductionRebuildAge { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How often the aggregator checks which production references need rebuilding. Zero: never (none built).</summary>
    public TimeSpan ProductionCheckInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Windows of each size, spread over the period, that the thresholds of a production or pinned reference are derived from.</summary>
    public int ThresholdWindows { get; set; } = 48;

    internal sealed class Validator : IValidateOptions<ReferenceOptions>
    {
        public ValidateOptionsResult Validate(string? name, ReferenceOptions options)
        {
            var errors = new List<string>();
            if (options.MaxUploadBytes < 1024)
            {
                errors.Add($"References:MaxUploadBytes must be at least 1024 (got {options.MaxUploadBytes}).");
            }

            if (options.MaxUploadRows < 1)
            {
                errors.Add($"References:MaxUploadRows must be positive (got {options.MaxUploadRows}).");
            }

            if (options.MaxColumns is < 1 or > 100_000)
            {
                errors.Add($"References:MaxColumns must be between 1 and 100,000 (got {options.MaxColumns}).");
            }

            if (options.MaxStringLength < 1)
            {
                errors.Add($"References:MaxStringLength must be positive (got {options.MaxStringLength}).");
            }

            if (options.ChunkRows < 10)
            {
                errors.Add($"References:ChunkRows must be at least 10 (got {options.ChunkRows}).");
            }

            if (options.MaxChunks is < 2 or > 1_000)
            {
                errors.Add($"References:MaxChunks must be between 2 and 1,000 (got {options.MaxChunks}).");
            }

            if (options.ProductionPeriod < TimeSpan.FromMinutes(1) || options.ProductionLag < TimeSpan.Zero || options.ProductionRebuildAge < TimeSpan.FromMinutes(1))
            {
                errors.Add("References:ProductionPeriod and ProductionRebuildAge must be at least 1 minute, ProductionLag not negative.");
            }

            if (options.ProductionCheckInterval < TimeSpan.Zero)
            {
                errors.Add("References:ProductionCheckInterval must not be negative (0 turns production references off).");
            }

            if (options.ThresholdWindows is < 2 or > 10_000)
            {
                errors.Add($"References:ThresholdWindows must be between 2 and 10,000 (got {options.ThresholdWindows}).");
            }

            return errors.Count > 0 ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
        }
    }
}
