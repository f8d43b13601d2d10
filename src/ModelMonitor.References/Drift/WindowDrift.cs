using ModelMonitor.Core.Drift;
using ModelMonitor.Core.Statistics;
using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.References.Drift;

/// <summary>How a window's schema departs from a reference's (TFDV's presence, domain and type anomalies).</summary>
[Flags]
public enum SchemaAnomalies : byte
{
    None = 0,

    /// <summary>The window has the feature, the reference does not.</summary>
    NewFeature = 1,

    /// <summary>The window holds a kind of value (number, string, boolean) the reference never had.</summary>
    TypeMismatch = 2,

    /// <summary>The reference has the feature, the window does not.</summary>
    MissingFeature = 4,
}

public static class SchemaAnomalyKinds
{
    /// <summary>Each anomaly with its label (the <c>kind</c> of modelmonitor_feature_schema_anomaly, the
    /// <c>schema_anomaly</c> of feature_drift), in label order.</summary>
    public static IReadOnlyList<(SchemaAnomalies Flag, string Kind)> All { get; } =
        [(SchemaAnomalies.MissingFeature, "missing_feature"), (SchemaAnomalies.NewFeature, "new_feature"), (SchemaAnomalies.TypeMismatch, "type_mismatch")];

    /// <summary>The label of the one anomaly in <paramref name="anomalies"/> (they never combine: a missing or new feature is
    /// not compared, so it has no type), or null.</summary>
    public static string? Label(SchemaAnomalies anomalies) => All.FirstOrDefault(a => anomalies.HasFlag(a.Flag)).Kind;
}

/// <summary>
/// A stored window's rows against a prepared reference: the one computation behind the exporter's drift gauges and the
/// aggregator's drift history (feature_drift, prediction_drift), so both say the same. Reuses its buffers from row to
/// row: one instance per thread.
/// </summary>
public sealed class WindowDrift
{
    private readonly List<SketchPoint> _points = [];
    private readonly DDSketch _sketch = new();
    private readonly DriftScratch _scratch = new();

    /// <summary>
    /// The feature <paramref name="feature"/> of a window (<paramref name="row"/>; null or without values: the model sent
    /// no value of it) against <paramref name="reference"/>: its distances (null when not compared) and anomalies. False
    /// when there is nothing to say (neither side has values of the feature).
    /// </summary>
    public bool TryCompareFeature(string feature, FeatureWindowRow? row, PreparedReference reference, out FeatureDrift? drift, out SchemaAnomalies anomalies)
    {
        ArgumentNullException.ThrowIfNull(reference);
        drift = null;
        anomalies = SchemaAnomalies.None;
        var known = reference.Features.TryGetValue(feature, out var prepared);
        if (row is null || row.ValueCount == 0)
        {
            anomalies = known ? SchemaAnomalies.MissingFeature : SchemaAnomalies.None;
            return known;
        }

        if (!known)
        {
            anomalies = SchemaAnomalies.NewFeature;
            return true;
        }

        var values = new WindowValues(Points(row.Sketch), row.CategoryCounts(), row.CategoricalCount, row.NumericCount + row.NonfiniteCount, row.BooleanCount);
        drift = prepared.Comparison.Compare(values, _scratch);
        if (drift is null)
        {
            return false;
        }

        anomalies = drift.Value.TypeMismatch ? SchemaAnomalies.TypeMismatch : SchemaAnomalies.None;
        return true;
    }

    /// <summary>The window's prediction_result against the reference's (null: either has no numbers).</summary>
    public FeatureDrift? ComparePrediction(ModelWindowRow row, PreparedReference reference)
    {
        ArgumentNullException.ThrowIfNull(row);
        ArgumentNullException.ThrowIfNull(reference);
        return row.PredictionCount > 0 && reference.Prediction is { } comparison
            ? comparison.Compare(new WindowValues(Points(row.Sketch), [], 0, row.PredictionCount, 0), _scratch)
            : null;
    }

    private List<SketchPoint> Points(byte[]? serialized)
    {
        _points.Clear();
        if (serialized is { Length: > 0 })
        {
            _sketch.Load(serialized);
            _sketch.CopyPoints(_points);
        }

        return _points;
    }
}
