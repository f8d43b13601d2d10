using Microsoft.Extensions.Options;
using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.Exporter;

/// <summary>Settings of the exporter (section "Exporter", environment Exporter__*).</summary>
public sealed class ExporterOptions
{
    public const string SectionName = "Exporter";

    /// <summary>How often the statistics are read from Postgres and the exposition re-rendered.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>A window counts as completed this long after its end, so the aggregator's last flush
    /// of the window (every few seconds) is in Postgres before the window is published.</summary>
    public TimeSpan CompletionDelay { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Models whose last prediction is older than this are no longer exported at all.</summary>
    public TimeSpan ModelRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>A feature reported in one of this many windows before the latest, but absent from the
    /// latest, is exported with missing_ratio 1 (it vanished from the model's inputs).</summary>
    public int MissingFeatureLookbackWindows { get; set; } = 12;

    /// <summary>Cardinality caps; what they cut is counted in modelmonitor_exporter_dropped_series_total.</summary>
    public int MaxModels { get; set; } = 500;

    public int MaxFeaturesPerModel { get; set; } = 300;

    /// <summary>Categories per feature beyond this are folded into "__other__".</summary>
    public int MaxCategoriesPerFeature { get; set; } = 20;

    /// <summary>What each refresh reads.</summary>
    public SnapshotQuery ToSnapshotQuery() => new(ModelRetention, CompletionDelay, MissingFeatureLookbackWindows);

    internal sealed class Validator : IValidateOptions<ExporterOptions>
    {
        public ValidateOptionsResult Validate(string? name, ExporterOptions options)
        {
            var errors = new List<string>();
            if (options.RefreshInterval < TimeSpan.FromSeconds(1) || options.RefreshInterval > TimeSpan.FromHours(1))
            {
                errors.Add($"Exporter:RefreshInterval must be between 1s and 1h (was {options.RefreshInterval}).");
            }

            if (options.CompletionDelay < TimeSpan.Zero || options.CompletionDelay > TimeSpan.FromHours(1))
            {
                errors.Add($"Exporter:CompletionDelay must be between 0 and 1h (was {options.CompletionDelay}).");
            }

            if (options.ModelRetention <= TimeSpan.Zero)
            {
                errors.Add("Exporter:ModelRetention must be positive.");
            }

            if (options.MissingFeatureLookbackWindows is < 0 or > 1000)
            {
                errors.Add("Exporter:MissingFeatureLookbackWindows must be between 0 and 1000.");
            }

            if (options.MaxModels < 1 || options.MaxFeaturesPerModel < 1 || options.MaxCategoriesPerFeature < 1)
            {
                errors.Add("Exporter:MaxModels, MaxFeaturesPerModel and MaxCategoriesPerFeature must be at least 1.");
            }

            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
