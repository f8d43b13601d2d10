using ModelMonitor.Core.Drift;

namespace ModelMonitor.Core.References;

/// <summary>The adaptive threshold of one (subject, method): from how far the reference's own windows are from it.</summary>
/// <param name="Feature">The feature, or null for prediction_result.</param>
/// <param name="Windows">How many of the reference's windows (chunks) the threshold was derived from.</param>
public sealed record ReferenceThreshold(string? Feature, DriftMethod Method, double Threshold, int Windows, double Mean, double StdDev);

/// <summary>
/// Builds a reference from rows streamed once (an upload): every row counted into the whole profile, and the rows cut
/// into chunks of <paramref name="chunkRows"/> in file order, of which a uniform sample of at most
/// <paramref name="maxChunks"/> is kept (reservoir sampling, seeded: one file gives one reference) to derive the adaptive
/// thresholds (<see cref="DriftThreshold"/>: the chunks are the uploaded reference's own windows). Memory is bounded by
/// the features × (kept chunks + 2), whatever the number of rows.
/// </summary>
public sealed class ReferenceBuilder
{
    private readonly int _categoryCapacity;
    private readonly int _chunkRows;
    private readonly int _maxChunks;
    private readonly List<ReferenceProfile> _kept = [];
    private readonly Random _random = new(20261202);
    private ReferenceProfile _chunk;
    private long _chunksSeen;

    public ReferenceBuilder(int categoryCapacity, int chunkRows = 1_000, int maxChunks = 50)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkRows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxChunks, 2);
        _categoryCapacity = categoryCapacity;
        _chunkRows = chunkRows;
        _maxChunks = maxChunks;
        _chunk = new ReferenceProfile(categoryCapacity);
        Profile = new ReferenceProfile(categoryCapacity);
    }

    /// <summary>The whole reference so far (the chunk being filled is merged in by <see cref="Complete"/>).</summary>
    public ReferenceProfile Profile { get; }

    /// <summary>Rows added so far.</summary>
    public long Rows => Profile.RowCount + _chunk.RowCount;

    /// <summary>The row being added: count its values into the returned profile (<see cref="ReferenceProfile.Feature"/>,
    /// <see cref="ReferenceProfile.Prediction"/>), then call <see cref="EndRow"/>.</summary>
    public ReferenceProfile Row => _chunk;

    /// <summary>Ends the row counted into <see cref="Row"/>.</summary>
    public void EndRow()
    {
        _chunk.AddRow();
        if (_chunk.RowCount >= _chunkRows)
        {
            CloseChunk();
        }
    }

    /// <summary>The whole profile (every row) and the thresholds derived from the kept chunks.</summary>
    public (ReferenceProfile Profile, IReadOnlyList<ReferenceThreshold> Thresholds) Complete()
    {
        if (_chunk.RowCount > 0)
        {
            // A last, partial chunk counts in the profile but not among the windows (it is smaller than the others).
            Profile.Merge(_chunk);
            _chunk = new ReferenceProfile(_categoryCapacity);
        }

        return (Profile, Thresholds(Profile, _kept));
    }

    private void CloseChunk()
    {
        Profile.Merge(_chunk);
        _chunksSeen++;
        var full = _chunk;
        _chunk = new ReferenceProfile(_categoryCapacity);
        if (_kept.Count < _maxChunks)
        {
            _kept.Add(full);
            return;
        }

        var slot = _random.NextInt64(_chunksSeen);
        if (slot < _maxChunks)
        {
            _kept[(int)slot] = full;
        }
    }

    /// <summary>The adaptive threshold of every feature and method of <paramref name="reference"/>, from the distances
    /// of <paramref name="windows"/> (the reference's own windows or chunks) to it.</summary>
    public static List<ReferenceThreshold> Thresholds(ReferenceProfile reference, IReadOnlyList<ReferenceProfile> windows)
    {
        ArgumentNullException.ThrowIfNull(windows);
        var collector = new ThresholdCollector(reference);
        foreach (var window in windows)
        {
            collector.Add(window);
        }

        return collector.Thresholds();
    }
}
