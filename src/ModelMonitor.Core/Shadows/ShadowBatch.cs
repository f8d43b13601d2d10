namespace ModelMonitor.Core.Shadows;

/// <summary>One prediction of an id in the join, and whether this batch brings it (false: it was stored before).</summary>
public readonly record struct ShadowEntry(ShadowPrediction Prediction, bool IsNew);

/// <summary>The predictions of one (predictor, prediction_id) the join pairs: at most one per model.</summary>
/// <param name="Stored">Its predictions were read from the table (some may wait there after this batch); false: all of them
/// came in this batch and none was stored.</param>
public sealed class ShadowIdGroup(string predictorName, string predictionId, bool stored)
{
    public string PredictorName { get; } = predictorName;

    public string PredictionId { get; } = predictionId;

    public bool Stored { get; } = stored;

    public List<ShadowEntry> Entries { get; } = new(3);

    /// <summary>Adds a prediction unless its model has one already (the first counts).</summary>
    public bool TryAdd(ShadowPrediction prediction, bool isNew)
    {
        foreach (var entry in Entries)
        {
            if (string.Equals(entry.Prediction.ModelId, prediction.ModelId, StringComparison.Ordinal))
            {
                return false;
            }
        }
        Entries.Add(new ShadowEntry(prediction, isNew));
        return true;
    }
}

/// <summary>
/// The predictions one batch of the join read, grouped by (predictor, prediction_id) as they are read, so the store and
/// <see cref="ShadowJoin"/> take the groups as they are instead of each grouping the batch again (one hash per prediction).
/// </summary>
public sealed class ShadowBatch
{
    private readonly Dictionary<(string PredictorName, string PredictionId), ShadowIdGroup> _groups = [];

    /// <summary>Predictions held (repeats not counted).</summary>
    public int Predictions { get; private set; }

    public IReadOnlyCollection<ShadowIdGroup> Groups => _groups.Values;

    /// <summary>Keeps <paramref name="prediction"/> unless its (predictor, id, model) is held already (the first counts).</summary>
    public bool Add(ShadowPrediction prediction)
    {
        var key = (prediction.PredictorName, prediction.PredictionId);
        if (!_groups.TryGetValue(key, out var group))
        {
            _groups[key] = group = new ShadowIdGroup(prediction.PredictorName, prediction.PredictionId, stored: false);
        }
        if (!group.TryAdd(prediction, isNew: true))
        {
            return false;
        }
        Predictions++;
        return true;
    }

    public void Clear()
    {
        _groups.Clear();
        Predictions = 0;
    }
}
