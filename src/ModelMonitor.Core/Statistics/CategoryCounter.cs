namespace ModelMonitor.Core.Statistics;

/// <summary>
/// Counts per categorical value, bounded: the stored form keeps the <see cref="Capacity"/> most
/// frequent values and folds the rest into <see cref="OtherLabel"/>, so a feature with unbounded
/// cardinality (ids sent as strings) cannot grow a row without limit, yet unexpected values still show.
/// </summary>
/// <remarks>
/// In memory the counter tracks up to <see cref="WorkingCapacity"/> distinct values before trimming
/// to the top <see cref="Capacity"/>, which keeps the top values exact whenever a window has at most
/// that many distinct values and approximately right otherwise (a trimmed value that reappears starts
/// again from zero, its earlier count stays in "other"). The total is always exact.
/// A real value spelled "__other__" is counted with the other values.
/// </remarks>
public sealed class CategoryCounter
{
    public const string OtherLabel = "__other__";
    public const int DefaultCapacity = 50;

    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);

    public CategoryCounter(int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        WorkingCapacity = capacity * 4;
    }

    public int Capacity { get; }

    public int WorkingCapacity { get; }

    /// <summary>Values folded into "other".</summary>
    public long OtherCount { get; private set; }

    /// <summary>Every value counted, tracked or not.</summary>
    public long Total { get; private set; }

    /// <summary>Distinct values currently tracked (not counting "other").</summary>
    public int TrackedCount => _counts.Count;

    /// <summary>Approximate bytes held in memory: the dictionary (an entry and a bucket per value) and the labels, which
    /// records of the same model often share (counted anyway: an upper bound).</summary>
    public long EstimatedBytes
    {
        get
        {
            long bytes = 200;
            foreach (var label in _counts.Keys)
            {
                bytes += 40 + 22 + (2L * label.Length);
            }

            return bytes;
        }
    }

    public void Add(string label, long count = 1)
    {
        ArgumentNullException.ThrowIfNull(label);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count == 0)
        {
            return;
        }

        Total += count;
        if (label == OtherLabel)
        {
            OtherCount += count;
            return;
        }

        if (_counts.TryGetValue(label, out var existing))
        {
            _counts[label] = existing + count;
            return;
        }

        if (_counts.Count >= WorkingCapacity)
        {
            Trim(Capacity);
        }

        _counts[label] = count;
    }

    /// <summary>Empties the counter (as new), keeping its dictionary's capacity.</summary>
    public void Reset()
    {
        _counts.Clear();
        OtherCount = 0;
        Total = 0;
    }

    public void Merge(CategoryCounter other)
    {
        ArgumentNullException.ThrowIfNull(other);
        foreach (var (label, count) in other._counts)
        {
            Add(label, count);
        }

        Add(OtherLabel, other.OtherCount);
    }

    /// <summary>
    /// The stored form: at most <see cref="Capacity"/> values, most frequent first (ties by ordinal
    /// order), plus "__other__" when anything was folded. The counts sum to <see cref="Total"/>.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, long>> Top()
    {
        var ordered = _counts.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).ToList();
        var other = OtherCount;
        for (var i = Capacity; i < ordered.Count; i++)
        {
            other += ordered[i].Value;
        }

        var result = ordered.Take(Capacity).ToList();
        if (other > 0)
        {
            result.Add(new KeyValuePair<string, long>(OtherLabel, other));
        }

        return result;
    }

    /// <summary>Folds every value beyond the top <see cref="Capacity"/> into "other": the counter becomes what
    /// <see cref="Top"/> stores, as if it had been written and read back.</summary>
    public void KeepStoredForm() => Trim(Capacity);

    private void Trim(int keep)
    {
        if (_counts.Count <= keep)
        {
            return;
        }

        foreach (var (label, count) in _counts.OrderBy(p => p.Value).ThenByDescending(p => p.Key, StringComparer.Ordinal).Take(_counts.Count - keep).ToList())
        {
            OtherCount += count;
            _counts.Remove(label);
        }
    }
}
