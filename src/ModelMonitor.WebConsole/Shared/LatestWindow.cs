using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.WebConsole.Shared;

/// <summary>A model's features in the exporter's latest complete window (and its lookback), and those with a problem.</summary>
public sealed record ModelFeatures(IReadOnlyList<string> Features, IReadOnlyList<string> Problems);

/// <summary>
/// The latest complete windows as the exporter's refresh read them (every feature row of every model, every refresh): the console takes from it what would otherwise be a scan of that whole window per page view, namely each
/// model's features with a problem (the overview) and each model's feature names (the model page's lookups by primary
/// key). A feature has a problem when more than half of the window's predictions miss it or default it, or when any of its
/// values is NaN or infinite: the thresholds of the feature alerts.
/// </summary>
public sealed record LatestWindowSummary(int WindowSeconds, DateTimeOffset WindowStart, IReadOnlyDictionary<(string Predictor, string Model), ModelFeatures> Models)
{
    public const double RatioThreshold = 0.5;

    public static LatestWindowSummary? From(StatisticsSnapshot snapshot)
    {
        if (snapshot.Windows.Count == 0)
        {
            return null;
        }
        var names = new Dictionary<(string, string), HashSet<string>>();
        var problems = new Dictionary<(string, string), List<string>>();
        // Each model's problems from the smallest size whose latest complete window has its predictions (a model quieter
        // than the smallest window is judged on a larger one); its feature names from every size and the lookback.
        foreach (var window in snapshot.Windows.OrderBy(w => w.WindowSeconds))
        {
            var predictions = window.Models.ToDictionary(m => (m.PredictorName, m.ModelId), m => m.PredictionCount);
            var judged = new HashSet<(string, string)>(predictions.Keys.Where(k => !problems.ContainsKey(k)));
            foreach (var key in judged)
            {
                problems[key] = [];
            }
            foreach (var row in window.Features)
            {
                var key = (row.PredictorName, row.ModelId);
                NamesOf(names, key).Add(row.Feature);
                if (judged.Contains(key) && HasProblem(predictions[key], row.ValueCount, row.DefaultCount, row.NonfiniteCount))
                {
                    problems[key].Add(row.Feature);
                }
            }
            foreach (var earlier in window.EarlierFeatures)
            {
                NamesOf(names, (earlier.PredictorName, earlier.ModelId)).Add(earlier.Feature);
            }
        }
        var smallest = snapshot.Windows.MinBy(w => w.WindowSeconds)!;
        return new LatestWindowSummary(smallest.WindowSeconds, smallest.WindowStart, names.Keys.Union(problems.Keys).ToDictionary(key => key,
            key => new ModelFeatures([.. names.GetValueOrDefault(key, []).Order(StringComparer.Ordinal)], [.. problems.GetValueOrDefault(key, []).Order(StringComparer.Ordinal)])));
    }

    private static HashSet<string> NamesOf(Dictionary<(string, string), HashSet<string>> names, (string, string) key)
    {
        if (!names.TryGetValue(key, out var set))
        {
            names[key] = set = new HashSet<string>(StringComparer.Ordinal);
        }
        return set;
    }

    /// <summary>More than half missing or defaulted, or any non-finite value.</summary>
    public static bool HasProblem(long predictions, long values, long defaulted, long nonfinite) =>
        nonfinite > 0 || (predictions > 0 && (Math.Max(predictions - values, 0) > predictions * RatioThreshold || defaulted > predictions * RatioThreshold));
}

/// <summary>The latest <see cref="LatestWindowSummary"/>, published by the exporter after each refresh (null before the
/// first).</summary>
public sealed class LatestWindow
{
    private volatile LatestWindowSummary? _current;

    public LatestWindowSummary? Current => _current;

    public void Publish(LatestWindowSummary? summary) => _current = summary;
}
