namespace ModelMonitor.DemoTraffic.Sending;

/// <summary>What happened to the records handed to the sender; every counter counts records unless named otherwise.</summary>
public sealed class TrafficCounters
{
    private long _sent;
    private long _acknowledged;
    private long _rejected;
    private long _gaveUp;
    private long _requests;
    private long _retries;
    private long _throttled;
    private long _transientFailures;
    private string? _lastRejection;

    /// <summary>Latencies of every request since start.</summary>
    public LatencyHistogram Latency { get; } = new();

    /// <summary>Latencies since the last status line.</summary>
    public LatencyHistogram IntervalLatency { get; } = new();

    /// <summary>Records handed to the sender (each once, however often it is resent).</summary>
    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>Records the API stored (2xx and not listed as an error).</summary>
    public long Acknowledged => Interlocked.Read(ref _acknowledged);

    /// <summary>Records the API refused for good (listed with retryable=false, or a 400/413 for them).</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>Records neither acknowledged nor rejected: retries exhausted, or in flight at stop.</summary>
    public long GaveUp => Interlocked.Read(ref _gaveUp);

    /// <summary>HTTP requests made, first attempts and retries.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Requests that were resends (after 429/503, a connection error, a 5xx or a retryable record error).</summary>
    public long Retries => Interlocked.Read(ref _retries);

    /// <summary>429/503 responses (each followed by waiting Retry-After).</summary>
    public long Throttled => Interlocked.Read(ref _throttled);

    /// <summary>Connection errors, timeouts and 5xx other than 503.</summary>
    public long TransientFailures => Interlocked.Read(ref _transientFailures);

    /// <summary>The message of the most recent rejection, to show why records are refused.</summary>
    public string? LastRejection => Volatile.Read(ref _lastRejection);

    public void AddSent(int records) => Interlocked.Add(ref _sent, records);

    public void AddAcknowledged(int records) => Interlocked.Add(ref _acknowledged, records);

    public void AddRejected(int records, string? message)
    {
        Interlocked.Add(ref _rejected, records);
        if (message is not null)
        {
            Volatile.Write(ref _lastRejection, message);
        }
    }

    public void AddGaveUp(int records) => Interlocked.Add(ref _gaveUp, records);

    public void AddRequest(TimeSpan latency)
    {
        Interlocked.Increment(ref _requests);
        Latency.Record(latency);
        IntervalLatency.Record(latency);
    }

    public void AddRetry() => Interlocked.Increment(ref _retries);

    public void AddThrottled() => Interlocked.Increment(ref _throttled);

    public void AddTransientFailure() => Interlocked.Increment(ref _transientFailures);
}
