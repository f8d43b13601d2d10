namespace ModelMonitor.Core.Shadows;

/// <summary>
/// Shadow comparison settings (section "Shadow"), read by the aggregator (the join) and the exporter (the divergence
/// threshold it publishes for ModelMonitorShadowDivergence). The join compares every predictor that has two or more
/// models: registered ones (primary and shadows) first, then the others by first prediction, up to
/// <see cref="MaxModelsPerPredictor"/>.
/// </summary>
public sealed class ShadowOptions
{
    public const string SectionName = "Shadow";

    /// <summary>Off: predictions are not paired and no modelmonitor_shadow_* series are published.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Two predictions of one prediction_id form a pair when their sent_at are at most this far apart. A prediction
    /// read later than this after its sent_at is not joined (its partners may be gone).</summary>
    public TimeSpan JoinWindow { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Models of one predictor the join compares (the rest are ignored, and counted).</summary>
    public int MaxModelsPerPredictor { get; set; } = 5;

    /// <summary>ModelMonitorShadowDivergence fires when a shadow's p95 |shadow − primary| exceeds this many standard deviations
    /// of the primary's prediction_result (exported per predictor as modelmonitor_predictor_shadow_divergence_threshold).</summary>
    public double DivergenceThreshold { get; set; } = 0.5;

    /// <summary>How often the join reloads which predictors have several models (a new model is joined from then on).</summary>
    public TimeSpan ReloadInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Per predictor: DivergenceThreshold, and Threshold (binary predictors: the agreement ratio's cut-off; unset, a
    /// predictor configured as Evaluation:Predictors:&lt;name&gt;:Task=binary uses its evaluation threshold).</summary>
    public Dictionary<string, ShadowPredictorOptions> Predictors { get; set; } = new(StringComparer.Ordinal);

    public double DivergenceThresholdOf(string predictor) =>
        Predictors.TryGetValue(predictor, out var p) && p.DivergenceThreshold is { } threshold ? threshold : DivergenceThreshold;

    /// <summary>What is wrong with these settings (empty when valid), each naming the setting.</summary>
    public IReadOnlyList<string> Problems()
    {
        var errors = new List<string>();
        if (JoinWindow <= TimeSpan.Zero || JoinWindow > TimeSpan.FromDays(7))
        {
            errors.Add($"Shadow:JoinWindow must be between 0 and 7 days (got {JoinWindow}).");
        }
        if (MaxModelsPerPredictor is < 2 or > 50)
        {
            errors.Add($"Shadow:MaxModelsPerPredictor must be between 2 and 50 (got {MaxModelsPerPredictor}).");
        }
        if (!(DivergenceThreshold > 0) || !double.IsFinite(DivergenceThreshold))
        {
            errors.Add($"Shadow:DivergenceThreshold must be a finite number above 0 (got {DivergenceThreshold}).");
        }
        if (ReloadInterval < TimeSpan.FromSeconds(1))
        {
            errors.Add($"Shadow:ReloadInterval must be at least 1 s (got {ReloadInterval}).");
        }
        foreach (var (name, p) in Predictors)
        {
            if (p.DivergenceThreshold is { } threshold && !(threshold > 0 && double.IsFinite(threshold)))
            {
                errors.Add($"Shadow:Predictors:{name}:DivergenceThreshold must be a finite number above 0 (got {threshold}).");
            }
            if (p.Threshold is { } cut && !double.IsFinite(cut))
            {
                errors.Add($"Shadow:Predictors:{name}:Threshold must be a finite number (got {cut}).");
            }
        }
        return errors;
    }
}

/// <summary>One predictor's shadow settings (Shadow:Predictors:&lt;name&gt;).</summary>
public sealed class ShadowPredictorOptions
{
    public double? DivergenceThreshold { get; set; }

    /// <summary>A binary predictor's score threshold: the agreement ratio counts pairs on the same side of it.</summary>
    public double? Threshold { get; set; }
}
