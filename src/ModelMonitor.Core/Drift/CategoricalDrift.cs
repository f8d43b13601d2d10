using ModelMonitor.Core.Statistics;

namespace ModelMonitor.Core.Drift;

/// <summary>Drift of one categorical (or boolean) window against a reference, and its schema skew (values the reference
/// never had).</summary>
public readonly record struct CategoricalDriftResult(double Linf, double JensenShannon, double Psi, double UnseenCategoryRatio)
{
    public double Of(DriftMethod method) => method switch
    {
        DriftMethod.Linf => Linf,
        DriftMethod.JensenShannon => JensenShannon,
        DriftMethod.Psi => Psi,
        _ => double.NaN,
    };
}

/// <summary>
/// The categorical drift measures over category shares (pure; formulas in README "Drift"). The bins are the categories
/// either side tracks, each a share of its side's total, plus <c>__other__</c> for the rest of each side. Both sides keep
/// only their most frequent values (<see cref="CategoryCounter"/>), so a category tracked on one side only is compared
/// on its own only when the other side is complete (folded nothing into <c>__other__</c>, so it truly never had it);
/// otherwise it is counted in <c>__other__</c> on both sides, and truncation alone never reads as drift.
/// L-infinity = max |p − q|; Jensen-Shannon and PSI as in <see cref="Divergence"/>.
/// The unseen-category ratio is the window's share of values in categories the reference does not track.
/// </summary>
public static class CategoricalDrift
{
    /// <summary>Compares category counts (each side's stored top values, <c>__other__</c> included or not: the rest of
    /// the total is other either way); null when either side holds no categorical value.</summary>
    public static CategoricalDriftResult? Compare(
        IReadOnlyList<KeyValuePair<string, long>> reference,
        long referenceTotal,
        IReadOnlyList<KeyValuePair<string, long>> current,
        long currentTotal)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(current);
        if (referenceTotal <= 0 || currentTotal <= 0)
        {
            return null;
        }

        var referenceCounts = Tracked(reference, out var referenceTracked);
        var currentCounts = Tracked(current, out var currentTracked);
        var referenceComplete = referenceTracked >= referenceTotal;
        var currentComplete = currentTracked >= currentTotal;

        var labels = new List<string>();
        foreach (var label in referenceCounts.Keys)
        {
            if (currentCounts.ContainsKey(label) || currentComplete)
            {
                labels.Add(label);
            }
        }

        long unseen = 0;
        foreach (var (label, count) in currentCounts)
        {
            if (!referenceCounts.ContainsKey(label))
            {
                unseen += count;
                if (referenceComplete)
                {
                    labels.Add(label);
                }
            }
        }

        labels.Sort(StringComparer.Ordinal); // one order, so the sums round the same way every time
        var p = new double[labels.Count + 1];
        var q = new double[labels.Count + 1];
        double pSum = 0, qSum = 0;
        for (var i = 0; i < labels.Count; i++)
        {
            p[i] = (double)referenceCounts.GetValueOrDefault(labels[i]) / referenceTotal;
            q[i] = (double)currentCounts.GetValueOrDefault(labels[i]) / currentTotal;
            pSum += p[i];
            qSum += q[i];
        }

        p[^1] = Math.Max(0, 1 - pSum);
        q[^1] = Math.Max(0, 1 - qSum);
        return new CategoricalDriftResult(
            Divergence.Linf(p, q),
            Divergence.JensenShannonDistance(p, q),
            Divergence.Psi(p, q),
            (double)unseen / currentTotal);
    }

    private static Dictionary<string, long> Tracked(IReadOnlyList<KeyValuePair<string, long>> counts, out long tracked)
    {
        var result = new Dictionary<string, long>(counts.Count, StringComparer.Ordinal);
        tracked = 0;
        foreach (var (label, count) in counts)
        {
            if (label != CategoryCounter.OtherLabel && count > 0)
            {
                result[label] = result.GetValueOrDefault(label) + count;
                tracked += count;
            }
        }

        return result;
    }
}
