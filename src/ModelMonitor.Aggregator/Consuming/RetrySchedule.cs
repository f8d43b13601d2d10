namespace ModelMonitor.Aggregator.Consuming;

/// <summary>
/// The one backoff of the aggregator's Postgres writes and reads: after a failure, wait 0.5 s, doubling up to
/// Aggregator:MaxRetryBackoff; a success resets it. The consumer loop never blocks on it (it keeps polling Kafka
/// and only stops fetching at its memory bound), so it is a schedule to consult, not a retry loop: Polly's
/// pipelines run the retried call themselves, which does not fit a loop that must keep serving Kafka meanwhile.
/// </summary>
internal sealed class RetrySchedule(TimeSpan maxBackoff, TimeProvider time)
{
    public static TimeSpan MinBackoff { get; } = TimeSpan.FromMilliseconds(500);

    private TimeSpan _next = MinBackoff;

    /// <summary>When the next attempt may start (default: now).</summary>
    public DateTimeOffset RetryAt { get; private set; }

    /// <summary>True while a failure's backoff has not elapsed.</summary>
    public bool Waiting => time.GetUtcNow() < RetryAt;

    /// <summary>Records a failure; returns how long to wait before the next attempt.</summary>
    public TimeSpan Failed()
    {
        var wait = _next;
        _next = TimeSpan.FromTicks(Math.Min(_next.Ticks * 2, maxBackoff.Ticks));
        RetryAt = time.GetUtcNow() + wait;
        return wait;
    }

    public void Succeeded()
    {
        _next = MinBackoff;
        RetryAt = default;
    }
}
