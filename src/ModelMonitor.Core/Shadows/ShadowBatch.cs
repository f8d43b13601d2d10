namespace ModelMonitor.Core.Shadows;

/// <summary>One prediction of an id in the join, and whether this batch brings it (false: it was stored before).</summary>
public readonly record struct ShadowEntry(ShadowPrediction Prediction, bool IsNew);

/// <summary>The predictions of one (predictor, prediction_id) the join pairs: at most one per model, held inline.</summary>
/// <param name="stored">Its predictions were read from the table (some may wait there after this batch); false: all of them
/// came in this batch and none was stored.</param>
/// <param name="capacity">The models expected (the predictor's compared models): the entries' array is sized once.</param>
public sealed class ShadowIdGroup(string predictorName, string predictionId, bool stored, int capacity = 3)
{
    private ShadowEntry[] _entries = new ShadowEntry[Math.Max(1, capacity)];

    public string PredictorName { get; } = predictorName;

    public string PredictionId { get; } = predictionId;

    public bool Stored { get; } = stored;

    public int Count { get; private set; }

    /// <summary>The entries, in place (<see cref="ShadowJoin"/> sorts them by model).</summary>
    public Span<ShadowEntry> Entries => _entries.AsSpan(0, Count);

    public IEnumerable<ShadowPrediction> Predictions => _entries.Take(Count).Select(e => e.Prediction);

    /// <summary>Adds a prediction unless its model has one already (the first counts). It keeps this group's name and id
    /// strings, so one copy of them lives as long as the batch.</summary>
    public bool TryAdd(ShadowPrediction prediction, bool isNew)
    {
        foreach (var entry in Entries)
        {
            if (string.Equals(entry.Prediction.ModelId, prediction.ModelId, StringComparison.Ordinal))
            {
                return false;
            }
        }
        Add(prediction, isNew);
        return true;
    }

    /// <summary>Adds a prediction (the caller knows its model is not here yet).</summary>
    public void Add(ShadowPrediction prediction, bool isNew)
    {
        if (Count == _entries.Length)
        {
            Array.Resize(ref _entries, Count * 2);
        }
        _entries[Count++] = new ShadowEntry(prediction with { PredictorName = PredictorName, PredictionId = PredictionId }, isNew);
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
    /// <param name="models">How many models the predictor has in the join (the group's size).</param>
    public bool Add(ShadowPrediction prediction, int models = 3)
    {
        var key = (prediction.PredictorName, prediction.PredictionId);
        if (!_groups.TryGetValue(key, out var group))
        {
            _groups[key] = group = new ShadowIdGroup(prediction.PredictorName, prediction.PredictionId, stored: false, models);
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
