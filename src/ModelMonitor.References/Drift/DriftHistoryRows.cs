using ModelMonitor.Core.Drift;
using ModelMonitor.Storage.Drift;
using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.References.Drift;

/// <summary>The drift history rows of one window (pure: the rows and references in, the rows to store out).</summary>
public static class DriftHistoryRows
{
    /// <summary>Every feature of every model with predictions in the window, and the features its references have that the
    /// window lacks (missing_feature), against each reference of the model; and its prediction_result.</summary>
    public static (List<FeatureDriftRow> Features, List<PredictionDriftRow> Predictions) Of(
        IReadOnlyList<ModelWindowRow> models, IReadOnlyList<FeatureWindowRow> features, DriftReferences references, DriftOptions settings, int windowSeconds)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(references);
        ArgumentNullException.ThrowIfNull(settings);
        var size = windowSeconds;
        var compare = new WindowDrift();
        var alertMethod = settings.ParsedAlertMethod;
        var featureRows = new List<FeatureDriftRow>();
        var predictionRows = new List<PredictionDriftRow>();
        var byModel = features.ToLookup(f => (f.PredictorName, f.ModelId));
        foreach (var model in models.Where(m => m.PredictionCount > 0))
        {
            var modelReferences = references.For(model.PredictorName, model.ModelId);
            if (modelReferences.Count == 0)
            {
                continue;
            }

            var rows = byModel[(model.PredictorName, model.ModelId)].ToDictionary(f => f.Feature, StringComparer.Ordinal);
            foreach (var reference in modelReferences)
            {
                if (compare.ComparePrediction(model, reference) is { } prediction)
                {
                    var (threshold, drifting) = Judge(settings, reference, model.PredictorName, null, prediction, alertMethod, size, model.PredictionCount);
                    predictionRows.Add(new PredictionDriftRow(model.PredictorName, model.ModelId, reference.Name,
                        Finite(prediction.Psi), Finite(prediction.JensenShannon), Finite(prediction.Ks), Finite(prediction.Wasserstein),
                        Finite(prediction.OutOfRangeRatio), alertMethod.Label(), threshold, drifting));
                }

                // The window's features, and the reference's the window lacks (missing_feature).
                foreach (var name in rows.Keys.Union(reference.Features.Keys).Order(StringComparer.Ordinal))
                {
                    if (!compare.TryCompareFeature(name, rows.GetValueOrDefault(name), reference, out var drift, out var anomalies))
                    {
                        continue;
                    }

                    var values = rows.GetValueOrDefault(name)?.ValueCount ?? 0;
                    var (threshold, drifting) = drift is { } d ? Judge(settings, reference, model.PredictorName, name, d, alertMethod, size, values) : (null, null);
                    featureRows.Add(new FeatureDriftRow(model.PredictorName, model.ModelId, name, reference.Name,
                        Of(drift, DriftMethod.Psi), Of(drift, DriftMethod.JensenShannon), Of(drift, DriftMethod.Ks),
                        Of(drift, DriftMethod.Wasserstein), Of(drift, DriftMethod.Linf),
                        drift is { ComparedAsNumbers: true } n ? Finite(n.OutOfRangeRatio) : null,
                        drift is { ComparedAsNumbers: false } c ? Finite(c.UnseenCategoryRatio) : null,
                        SchemaAnomalyKinds.Label(anomalies), drift is null ? null : alertMethod.Label(), threshold, drifting));
                }
            }
        }

        return (featureRows, predictionRows);
    }

    /// <summary>The alert method's threshold and whether the distance is above it (null: the method does not apply); never
    /// drifting below Drift:MinWindowValues values.</summary>
    private static (double? Threshold, bool? Drifting) Judge(DriftOptions settings, PreparedReference reference, string predictorName, string? feature,
        FeatureDrift drift, DriftMethod method, int size, long values)
    {
        var value = drift.Of(method);
        if (!double.IsFinite(value))
        {
            return (null, null);
        }

        var threshold = settings.Threshold(reference, predictorName, feature, method, size);
        return (threshold, value > threshold && values >= settings.MinWindowValues);
    }

    /// <summary>A method's distance where it applies to the feature and is defined.</summary>
    private static double? Of(FeatureDrift? drift, DriftMethod method) =>
        drift is { } d && d.Methods.Contains(method) ? Finite(d.Of(method)) : null;

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;
}
