using ModelMonitor.Core.Contracts;

namespace ModelMonitor.DemoTraffic.Running;

/// <summary>
/// Outcomes waiting for their observed_at, earliest first. Bounded: adding never waits (when it is full the outcome is
/// dropped and counted), so a slow or throttling API never holds up the producer of predictions.
/// </summary>
public sealed class OutcomeBacklog
{
    /// <summary>Room for steady traffic up to ~3,000 records/s (at 200/s, ~6,500 outcomes wait), or a week of backfill at 200 per hour.</summary>
    public const int DefaultCapacity = 100_000;

    private readonly PriorityQueue<Outcome, DateTimeOffset> _queue = new();
    private readonly Lock _gate = new();
    private readonly int _capacity;
    private long _dropped;

    public OutcomeBacklog(int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _capacity = capacity;
    }

    /// <summary>Outcomes dropped because the queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Outcomes waiting.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>Queues <paramref name="outcome"/> until its observed_at; false (and counted) when the queue is full.</summary>
    public bool TryAdd(Outcome outcome)
    {
        lock (_gate)
        {
            if (_queue.Count < _capacity)
            {
                _queue.Enqueue(outcome, outcome.ObservedAt);
                return true;
            }
        }

        Interlocked.Increment(ref _dropped);
        return false;
    }

    /// <summary>Takes up to <paramref name="max"/> outcomes observed at or before <paramref name="now"/>, earliest first.</summary>
    public List<Outcome> TakeDue(DateTimeOffset now, int max)
    {
        var due = new List<Outcome>();
        lock (_gate)
        {
            while (due.Count < max && _queue.TryPeek(out var outcome, out var observedAt) && observedAt <= now)
            {
                _queue.Dequeue();
                due.Add(outcome);
            }
        }

        return due;
    }
}
