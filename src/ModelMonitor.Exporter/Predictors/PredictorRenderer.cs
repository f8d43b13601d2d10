using System.Buffers;
using System.Globalization;
using ModelMonitor.Core.Predictors;
using ModelMonitor.Core.Shadows;
using ModelMonitor.Core.Windows;
using ModelMonitor.Exporter.Text;
using ModelMonitor.Storage.Predictors;
using ModelMonitor.Storage.Shadows;
using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.Exporter.Predictors;

/// <summary>What the predictor families are rendered from (one refresh's reads).</summary>
/// <param name="Models">The exported models (alive, not retired): only these get series.</param>
/// <param name="Shadows">The comparison rows of the latest completed window of each size, with both models' prediction counts.</param>
public sealed record PredictorInput(
    IReadOnlyList<ModelRow> Models,
    IReadOnlyList<StoredPredictor> Registered,
    IReadOnlyList<StoredModel> RegisteredModels,
    IReadOnlyList<RecordedPrimary> Primaries,
    IReadOnlyList<PrimaryChange> Changes,
    IReadOnlyList<(ShadowWindowRow Row, long CountA, long CountB)> Shadows);

/// <summary>
/// The predictor and shadow families: every model's role, age and serving age, each predictor's last primary change, and
/// the comparison of every other model of a predictor with its primary (registered, else inferred) as
/// modelmonitor_shadow_&lt;stat&gt;{predictor_name, model_id, primary_model_id, window}: the join keeps each pair of models
/// once (differences b − a for a before b), this turns them into shadow − primary. Pure.
/// </summary>
public static class PredictorRenderer
{
    private static readonly string[] ModelLabels = ["predictor_name", "model_id"];
    private static readonly string[] InfoLabels = ["predictor_name", "model_id", "role"];
    private static readonly string[] ChangeLabels = ["predictor_name", "model_id", "previous_model_id", "source"];
    private static readonly string[] PredictorLabels = ["predictor_name"];
    private static readonly string[] ShadowLabels = ["predictor_name", "model_id", "primary_model_id", "window"];
    private static readonly string[] ShadowQuantileLabels = [.. ShadowLabels, "quantile"];

    private sealed record Comparison(string[] Labels, ShadowSummary Summary, bool ShadowIsB, long ShadowCount, long PrimaryCount);

    private static readonly (string Name, string Help, Func<Comparison, double?> Value)[] ShadowGauges =
    [
        ("modelmonitor_shadow_pairs", "Predictions of the shadow (model_id) and the primary (primary_model_id) with the same prediction_id, sent at most Shadow:JoinWindow apart, in the window (of the earlier sent_at).", c => c.Summary.Pairs),
        ("modelmonitor_shadow_match_ratio", "Pairs / the shadow's predictions in the window (1: every shadow prediction has its primary).", c => c.ShadowCount > 0 ? (double)c.Summary.Pairs / c.ShadowCount : null),
        ("modelmonitor_shadow_primary_match_ratio", "Pairs / the primary's predictions in the window (how much of the primary's traffic the shadow also predicted).", c => c.PrimaryCount > 0 ? (double)c.Summary.Pairs / c.PrimaryCount : null),
        ("modelmonitor_shadow_abs_diff_mean", "Mean |shadow − primary| over the window's pairs.", c => c.Summary.AbsDiffMean),
        ("modelmonitor_shadow_diff_mean", "Mean of shadow − primary over the window's pairs (positive: the shadow predicts higher).", c => c.ShadowIsB ? c.Summary.DiffMean : -c.Summary.DiffMean),
        ("modelmonitor_shadow_correlation", "Pearson correlation of the shadow's and the primary's predictions over the window's pairs (absent when either is constant).", c => c.Summary.Correlation),
        ("modelmonitor_shadow_agreement_ratio", "Binary predictors: share of pairs whose two scores are on the same side of the threshold.", c => c.Summary.AgreementRatio),
    ];

    public static (ReadOnlyMemory<byte> Text, long Series) Render(PredictorInput input, ShadowOptions options, DateTimeOffset now)
    {
        var buffer = new ArrayBufferWriter<byte>(4096 + (input.Models.Count * 512) + (input.Shadows.Count * 1024));
        var writer = new PrometheusTextWriter(buffer);
        long series = 0;
        var registered = input.Registered.ToDictionary(p => p.PredictorName, StringComparer.Ordinal);
        var registeredModels = input.RegisteredModels.ToDictionary(m => (m.PredictorName, m.ModelId));
        var recorded = input.Primaries.ToDictionary(p => p.PredictorName, StringComparer.Ordinal);
        var models = input.Models.OrderBy(m => m.PredictorName, StringComparer.Ordinal).ThenBy(m => m.ModelId, StringComparer.Ordinal).ToList();
        var exported = models.Select(m => (m.PredictorName, m.ModelId)).ToHashSet();

        (string ModelId, bool Registered)? PrimaryOf(string predictor) =>
            registered.TryGetValue(predictor, out var r) && r.Registration.PrimaryModelId is { } p ? (p, true)
            : recorded.TryGetValue(predictor, out var c) && c.Source == "inferred" ? (c.ModelId, false)
            : null;

        const string info = "modelmonitor_model_info";
        writer.WriteFamilyHeader(info, "1 for every exported model, with its role: primary or shadow (registered), inferred_primary (unregistered: the most traffic in the last hour) or candidate.",
            MetricType.Gauge);
        foreach (var model in models)
        {
            var shadows = registered.TryGetValue(model.PredictorName, out var r) ? r.Registration.ShadowModelIds : [];
            writer.WriteSample(info, InfoLabels, [model.PredictorName, model.ModelId, ModelRoles.RoleOf(model.ModelId, PrimaryOf(model.PredictorName), shadows)], 1);
            series++;
        }

        const string age = "modelmonitor_model_age_seconds";
        writer.WriteFamilyHeader(age, "Seconds since the model was trained (trained_at of PUT /v1/predictors/{name}/models/{model_id}).", MetricType.Gauge);
        foreach (var model in models)
        {
            if (registeredModels.TryGetValue((model.PredictorName, model.ModelId), out var m) && m.Registration.TrainedAt is { } trainedAt)
            {
                writer.WriteSample(age, ModelLabels, [model.PredictorName, model.ModelId], (now - trainedAt).TotalSeconds);
                series++;
            }
        }
        const string maxAge = "modelmonitor_model_max_age_seconds";
        writer.WriteFamilyHeader(maxAge, "The predictor's registered max_model_age: ModelMonitorModelTooOld fires when modelmonitor_model_age_seconds exceeds it.", MetricType.Gauge);
        foreach (var model in models)
        {
            if (registered.TryGetValue(model.PredictorName, out var r) && r.Registration.MaxModelAge is { } limit)
            {
                writer.WriteSample(maxAge, ModelLabels, [model.PredictorName, model.ModelId], limit.TotalSeconds);
                series++;
            }
        }
        const string servingAge = "modelmonitor_model_serving_age_seconds";
        writer.WriteFamilyHeader(servingAge, "Seconds since the model's first prediction (sent_at) was aggregated.", MetricType.Gauge);
        foreach (var model in models)
        {
            writer.WriteSample(servingAge, ModelLabels, [model.PredictorName, model.ModelId], (now - new DateTimeOffset(DateTime.SpecifyKind(model.FirstSeen, DateTimeKind.Utc))).TotalSeconds);
            series++;
        }

        var predictors = models.Select(m => m.PredictorName).Distinct(StringComparer.Ordinal).ToHashSet(StringComparer.Ordinal);
        const string changed = "modelmonitor_predictor_primary_changed_timestamp_seconds";
        writer.WriteFamilyHeader(changed, "Unix time of the latest change of the predictor's primary (registered or inferred) from previous_model_id to model_id.", MetricType.Gauge);
        foreach (var change in input.Changes.Where(c => predictors.Contains(c.PredictorName)).OrderBy(c => c.PredictorName, StringComparer.Ordinal))
        {
            writer.WriteSample(changed, ChangeLabels, [change.PredictorName, change.ModelId, change.PreviousModelId, change.Source], change.ChangedAt.ToUnixTimeMilliseconds() / 1000.0);
            series++;
        }

        var comparisons = new List<Comparison>();
        foreach (var (row, countA, countB) in input.Shadows)
        {
            if (PrimaryOf(row.PredictorName) is not { } primary || !exported.Contains((row.PredictorName, row.ModelA)) || !exported.Contains((row.PredictorName, row.ModelB)))
            {
                continue;
            }
            var shadowIsB = primary.ModelId == row.ModelA;
            if (!shadowIsB && primary.ModelId != row.ModelB)
            {
                continue; // two models neither of which is the primary
            }
            var shadow = shadowIsB ? row.ModelB : row.ModelA;
            comparisons.Add(new Comparison([row.PredictorName, shadow, primary.ModelId, new WindowSize(row.WindowSeconds).ToString()], row.Summary, shadowIsB,
                shadowIsB ? countB : countA, shadowIsB ? countA : countB));
        }
        comparisons.Sort((x, y) => CompareLabels(x.Labels, y.Labels));
        foreach (var (name, help, value) in ShadowGauges)
        {
            writer.WriteFamilyHeader(name, help, MetricType.Gauge);
            foreach (var comparison in comparisons)
            {
                if (value(comparison) is { } number && double.IsFinite(number))
                {
                    writer.WriteSample(name, ShadowLabels, comparison.Labels, number);
                    series++;
                }
            }
        }
        const string quantile = "modelmonitor_shadow_abs_diff_quantile";
        writer.WriteFamilyHeader(quantile, "Quantiles of |shadow − primary| over the window's pairs (DDSketch, 1 % relative error).", MetricType.Gauge);
        foreach (var comparison in comparisons)
        {
            foreach (var (q, value) in comparison.Summary.AbsDiffQuantiles)
            {
                if (double.IsFinite(value))
                {
                    writer.WriteSample(quantile, ShadowQuantileLabels, [.. comparison.Labels, q.ToString(CultureInfo.InvariantCulture)], value);
                    series++;
                }
            }
        }
        const string threshold = "modelmonitor_predictor_shadow_divergence_threshold";
        writer.WriteFamilyHeader(threshold, "Shadow:DivergenceThreshold of the predictor: ModelMonitorShadowDivergence fires when a shadow's p95 |shadow − primary| exceeds this many standard deviations of the primary's predictions.",
            MetricType.Gauge);
        foreach (var predictor in comparisons.Select(c => c.Labels[0]).Distinct(StringComparer.Ordinal))
        {
            writer.WriteSample(threshold, PredictorLabels, [predictor], options.DivergenceThresholdOf(predictor));
            series++;
        }
        return (buffer.WrittenMemory, series);
    }

    private static int CompareLabels(string[] x, string[] y)
    {
        for (var i = 0; i < x.Length; i++)
        {
            var c = string.CompareOrdinal(x[i], y[i]);
            if (c != 0)
            {
                return c;
            }
        }
        return 0;
    }
}
