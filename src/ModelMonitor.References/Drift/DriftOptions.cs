using Microsoft.Extensions.Options;
using ModelMonitor.Core.Drift;
using ModelMonitor.Core.Windows;

namespace ModelMonitor.References.Drift;

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

    public IReadOnlySet<DriftMethod> ParsedMethods => field ??= Methods.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(m => DriftMethods.TryParse(m, out var method) ? method : (DriftMethod?)null).OfType<DriftMethod>().ToHashSet();

    /// <summary>The window sizes drift is measured on (comma-separated, e.g. "5m,1h"; empty: every size). The alert rules read
    /// the 1m and 5m windows: leave one of them in when the alerts are wanted.</summary>
    public string Windows { get; set; } = "";

    public IReadOnlySet<int>? ParsedWindows => string.IsNullOrWhiteSpace(Windows)
        ? null
        : field ??= WindowSize.ParseList(Windows).Select(w => w.Seconds).ToHashSet();

    /// <summary>A window with fewer values of a feature (or predictions, for prediction_result) is not judged drifting: its
    /// distance is mostly sampling noise. The same 100 the alert rules require (deploy/prometheus/rules/drift-alerts.yml:
    /// change both together); counted by modelmonitor_model_drifting_features and feature_drift.drifting.</summary>
    public long MinWindowValues { get; set; } = 100;

    /// <summary>Store every completed window's drift in Postgres (feature_drift, prediction_drift), written by the aggregator
    /// (one instance at a time) <see cref="HistoryDelay"/> after the window ends.</summary>
    public bool History { get; set; } = true;

    /// <summary>How often the aggregator looks for completed windows whose drift is not stored yet.</summary>
    public TimeSpan HistoryInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long after its end a window's drift is stored: the aggregator writes a window's last records within
    /// Aggregator:FlushInterval of its end (records later than this do not change the stored drift).</summary>
    public TimeSpan HistoryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How many of each size's latest completed windows are watched: stored when new, stored again when late records
    /// change them. When a first reference arrives, the drift of these windows is stored against it (a history to start
    /// with); older windows are not.</summary>
    public int HistoryCatchUpWindows { get; set; } = 60;

    /// <summary>Per predictor: which reference the alerts use and fixed thresholds per method.</summary>
    public Dictionary<string, PredictorDrift> Predictors { get; set; } = new(StringComparer.Ordinal);

    public DriftMethod ParsedAlertMethod => DriftMethods.TryParse(AlertMethod, out var method) ? method : DriftMethod.JensenShannon;

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

    /// <summary>The threshold a distance is judged by: the predictor's fixed one for the method, else the reference's adaptive
    /// one for the feature (null: prediction_result) and window size.</summary>
    public double Threshold(PreparedReference reference, string predictorName, string? feature, DriftMethod method, int windowSeconds)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return FixedThreshold(predictorName, method) ?? reference.Threshold(feature, method, windowSeconds);
    }

    /// <summary>A fixed threshold configured for the predictor and method, if any.</summary>
    public double? FixedThreshold(string predictorName, DriftMethod method) =>
        Predictors.TryGetValue(predictorName, out var configured) && configured.Thresholds.TryGetValue(method.Label(), out var value) ? value : null;

    public sealed class Validator : IValidateOptions<DriftOptions>
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

            if (options.MinWindowValues < 0)
            {
                errors.Add($"Drift:MinWindowValues must not be negative (got {options.MinWindowValues}).");
            }

            if (options.History && options.HistoryInterval <= TimeSpan.Zero)
            {
                errors.Add($"Drift:HistoryInterval must be positive (got {options.HistoryInterval}).");
            }

            if (options.HistoryDelay < TimeSpan.Zero || options.HistoryDelay > TimeSpan.FromHours(1))
            {
                errors.Add($"Drift:HistoryDelay must be between 0 and 1h (got {options.HistoryDelay}).");
            }

            if (options.HistoryCatchUpWindows < 1)
            {
                errors.Add($"Drift:HistoryCatchUpWindows must be positive (got {options.HistoryCatchUpWindows}).");
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
