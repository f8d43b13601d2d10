using ModelMonitor.Core.References;
using ModelMonitor.Storage.References;

namespace ModelMonitor.References;

/// <summary>
/// Builds a reference from a model's stored windows over a period (production and pinned references): the profile is the
/// merge of the windows of the largest size that tiles the period (its windows nest in it exactly: from and to on its
/// boundaries), else of the shortest size's windows inside the period; the thresholds of each window size come from up to
/// <paramref name="maxThresholdWindows"/> of that size's windows in the period, spread evenly over it, compared with the
/// whole (NannyML's reference chunks).
/// </summary>
public sealed class WindowReferenceBuilder(StoredWindowReader windows, int maxThresholdWindows = 48)
{
    public sealed record Built(ReferenceProfile Profile, IReadOnlyList<StoredThreshold> Thresholds, int MergedWindowSeconds, int MergedWindows);

    /// <summary>The reference of the model's windows in [<paramref name="from"/>, <paramref name="to"/>); null when none is stored.</summary>
    public async Task<Built?> BuildAsync(string predictorName, string modelId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var sizes = await windows.WindowSizesAsync(cancellationToken);
        if (sizes.Count == 0 || to <= from)
        {
            return null;
        }

        var (fromSeconds, toSeconds) = (from.ToUnixTimeSeconds(), to.ToUnixTimeSeconds());
        var aligned = sizes.Where(s => fromSeconds % s == 0 && toSeconds % s == 0).ToList();
        var mergeSize = aligned.Count > 0 ? aligned.Max() : sizes.Min();
        var starts = (await windows.WindowStartsAsync(predictorName, modelId, mergeSize, from, to.AddSeconds(-mergeSize + 1), cancellationToken)).ToList();
        if (starts.Count == 0)
        {
            return null;
        }

        var profile = new ReferenceProfile(ReferenceStore.CategoryCapacity);
        await windows.ForEachWindowAsync(predictorName, modelId, mergeSize, starts, ReferenceStore.CategoryCapacity,
            (_, window) => profile.Merge(window), cancellationToken);
        if (profile.IsEmpty)
        {
            return null;
        }

        var thresholds = new List<StoredThreshold>();
        foreach (var size in sizes)
        {
            var candidates = await windows.WindowStartsAsync(predictorName, modelId, size, from, to.AddSeconds(-size + 1), cancellationToken);
            var collector = new ThresholdCollector(profile);
            await windows.ForEachWindowAsync(predictorName, modelId, size, Spread(candidates, maxThresholdWindows), ReferenceStore.CategoryCapacity,
                (_, window) => collector.Add(window), cancellationToken);
            thresholds.AddRange(collector.Thresholds().Select(t => new StoredThreshold(size, t)));
        }

        return new Built(profile, thresholds, mergeSize, starts.Count);
    }

    /// <summary>At most <paramref name="max"/> of <paramref name="items"/>, evenly spaced (all when there are fewer).</summary>
    internal static IReadOnlyList<T> Spread<T>(IReadOnlyList<T> items, int max)
    {
        if (items.Count <= max)
        {
            return items;
        }

        return [.. Enumerable.Range(0, max).Select(i => items[(int)((long)i * items.Count / max)])];
    }
}
