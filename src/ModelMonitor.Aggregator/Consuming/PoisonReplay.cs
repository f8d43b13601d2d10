using Npgsql;

namespace ModelMonitor.Aggregator.Consuming;

/// <summary>
/// After a flush failed because of its data (a Postgres data error, not a lost connection), the delta is dropped,
/// the partitions rewind to their stored offsets, and every message up to where the failed delta ended is
/// replayed and flushed alone; a message that still fails is bisected into the records Postgres refuses (poison,
/// counted and logged) and the rest, which are committed with the message's offset. This tracks that range.
/// </summary>
internal sealed class PoisonReplay
{
    // Partition → the offset after the last message of the failed delta: messages below it are replayed alone.
    private readonly Dictionary<int, long> _until = [];

    public bool Active => _until.Count > 0;

    /// <summary>True for a Postgres error caused by the values written (class 22 data exception, e.g. 22P05, 22021,
    /// 22003; class 54 program limit, e.g. an index row too large), which a retry of the same data repeats forever.</summary>
    public static bool IsDataError(Exception e) =>
        e is PostgresException { SqlState: var state } && (state.StartsWith("22", StringComparison.Ordinal) || state.StartsWith("54", StringComparison.Ordinal));

    public void Begin(IReadOnlyDictionary<int, long> nextOffsets)
    {
        foreach (var (partition, next) in nextOffsets)
        {
            _until[partition] = _until.TryGetValue(partition, out var until) ? Math.Max(until, next) : next;
        }
    }

    /// <summary>Notes a consumed message; the replay of its partition ends with the last message of the failed delta.</summary>
    public void Passed(int partition, long offset)
    {
        if (_until.TryGetValue(partition, out var until) && offset + 1 >= until)
        {
            _until.Remove(partition);
        }
    }

    /// <summary>Partitions given up: their next owner starts from the stored offsets and replays by itself.</summary>
    public void Forget(IEnumerable<int> partitions)
    {
        foreach (var partition in partitions)
        {
            _until.Remove(partition);
        }
    }

    /// <summary>
    /// The positions in <paramref name="count"/> records that make <paramref name="fails"/> fail, by bisection:
    /// a set that passes is clean, a failing single record is poison, a failing set is split in halves. With p
    /// poison records among n it takes O(p log n) trials (one when the record set is clean).
    /// </summary>
    public static async Task<List<int>> FindPoisonAsync(int count, Func<ArraySegment<int>, Task<bool>> fails)
    {
        var poison = new List<int>();
        var all = Enumerable.Range(0, count).ToArray();
        var pending = new Stack<ArraySegment<int>>();
        pending.Push(all);
        while (pending.Count > 0)
        {
            var set = pending.Pop();
            if (set.Count == 0 || !await fails(set))
            {
                continue;
            }
            if (set.Count == 1)
            {
                poison.Add(set[0]);
                continue;
            }
            var half = set.Count / 2;
            pending.Push(set[half..]);
            pending.Push(set[..half]);
        }
        poison.Sort();
        return poison;
    }
}
