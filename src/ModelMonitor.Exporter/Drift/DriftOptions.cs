using Microsoft.Extensions.Options;
using ModelMonitor.Core.Drift;
using ModelMonitor.Core.Windows;

namespace ModelMonitor.Exporter.Drift;

/// <summary>Drift against reference profiles (section "Drift"; README "Drift").</summary>
public sealed class DriftOptions
{
    public const string SectionName = "Drift";

    /// <summary>Off: no drift series (the statistics are exported as before).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>A production reference describing fewer predictions is not compared against (too little to judge by).</summary>
    public long MinReferenceCount { get; set; } = 1_000;

    /// <summary>The method modelmonitor_model_drifting_features counts by (a feature drifts when this distance is above its
    /// threshold): jensen_shannon, defined for numeric and categorical features alike.</summary>
    public string AlertMethod { get; set; } = DriftMethod.JensenShannon.Label();

    /// <summary>The methods exported (comma-separated labels; default all five). Each exported (feature, reference) costs two
    /// series per method (distance and threshold): at hundreds of thousands of features, exporting only the alert method
    /// (<c>jensen_shannon</c>) keeps the exposition and Prometheus a third of the size (BENCHMARKS.md §12).</summary>
    public string Methods { get; set; } = string.Join(',', DriftMethods.All.Select(m => m.Label()));

    internal IReadOnlySet<DriftMethod> ParsedMethods => field ??= Methods.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(m => DriftMethods.TryParse(m, out var method) ? method : (DriftMethod?)null).OfType<DriftMethod>().ToHashSet();

    /// <summary>The window sizes drift is measured on (comma-separated, e.g. "5m,1h"; empty: every size). The alert rules read
    /// the 1m and 5m windows: leave one of them in when the alerts are wanted.</summary>
    public string Windows { get; set; } = "";

    internal IReadOnlySet<int>? ParsedWindows => string.IsNullOrWhiteSpace(Windows)
        ? null
        : field ??= WindowSize.ParseList(Windows).Select(w => w.Seconds).ToHashSet();

    /// <summary>Per predictor: which reference the alerts use and fixed thresholds per method.</summary>
    public Dictionary<string, PredictorDrift> Predictors { get; set; } = new(StringComparer.Ordinal);

    internal DriftMethod ParsedAlertMethod => DriftMethods.TryParse(AlertMethod, out var method) ? method : DriftMethod.JensenShannon;

    /// <summary>The reference the alerts of <paramref name="predictorName"/> use, among those its model has: the one configured,
    /// else <c>training</c> when there is one, else <c>production</c>.</summary>
    public string? AlertReference(string predictorName, IReadOnlyCollection<string> available)
    {
        ArgumentNullException.ThrowIfNull(available);
        if (Predictors.TryGetValue(predictorName, out var configured) && configured.Reference is { } name)
        {
            return available.Contains(name) ? name : null;
        }

        return available.Contains("training") ? "training" : available.Contains("production") ? "production" : null;
    }

    /// <summary>A fixed threshold configured for the predictor and method, if any.</summary>
    public double? FixedThreshold(string predictorName, DriftMethod method) =>
        Predictors.TryGetValue(predictorName, out var configured) && configured.Thresholds.TryGetValue(method.Label(), out var value) ? value : null;

    internal sealed class Validator : IValidateOptions<DriftOptions>
    {
        public ValidateOptionsResult Validate(string? name, DriftOptions options)
        {
            var errors = new List<string>();
            if (options.MinReferenceCount < 1)
            {
                errors.Add($"Drift:MinReferenceCount must be positive (got {options.MinReferenceCount}).");
            }

            if (!DriftMethods.TryParse(options.AlertMethod, out var alertMethod))
            {
                errors.Add($"Drift:AlertMethod must be one of {string.Join(", ", DriftMethods.All.Select(m => m.Label()))} (got \"{options.AlertMethod}\").");
            }

            var methods = options.Methods.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (methods.Length == 0 || methods.Any(m => !DriftMethods.TryParse(m, out _)))
            {
                errors.Add($"Drift:Methods must list methods among {string.Join(", ", DriftMethods.All.Select(m => m.Label()))} (got \"{options.Methods}\").");
            }
            else if (!options.ParsedMethods.Contains(alertMethod))
            {
                errors.Add($"Drift:Methods (\"{options.Methods}\") must include Drift:AlertMethod ({options.AlertMethod}): the alerts read it.");
            }

            if (!string.IsNullOrWhiteSpace(options.Windows))
            {
                try
                {
                    _ = WindowSize.ParseList(options.Windows);
                }
                catch (FormatException e)
                {
                    errors.Add($"Drift:Windows: {e.Message}");
                }
            }

            foreach (var (predictor, drift) in options.Predictors)
            {
                foreach (var (method, value) in drift.Thresholds)
                {
                    if (!DriftMethods.TryParse(method, out _))
                    {
                        errors.Add($"Drift:Predictors:{predictor}:Thresholds:{method}: not a method ({string.Join(", ", DriftMethods.All.Select(m => m.Label()))}).");
                    }
                    else if (!(value > 0) || !double.IsFinite(value))
                    {
                        errors.Add($"Drift:Predictors:{predictor}:Thresholds:{method} must be a positive number (got {value}).");
                    }
                }
            }

            return errors.Count > 0 ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
        }
    }
}

/// <summary>Drift settings of one predictor.</summary>
public sealed class PredictorDrift
{
    /// <summary>The reference its alerts use (default: training when present, else production).</summary>
    public string? Reference { get; set; }

    /// <summary>Fixed thresholds by method label (psi, jensen_shannon, ks, wasserstein, linf), instead of the adaptive ones.</summary>
    public Dictionary<string, double> Thresholds { get; set; } = new(StringComparer.Ordinal);
}
