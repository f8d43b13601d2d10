namespace ModelMonitor.DemoTraffic.Sending;

/// <summary>How the sender retries.</summary>
/// <param name="MaxTransientRetries">Resends of one batch after connection errors, timeouts or 5xx (not 503) before giving up.</param>
/// <param name="InitialBackoff">First wait after a transient failure; doubles each time, with jitter.</param>
/// <param name="MaxBackoff">Longest wait after a transient failure.</param>
/// <param name="DefaultRetryAfter">Wait after a 429/503 that carries no usable Retry-After.</param>
/// <param name="MaxRetryAfter">Cap on a server's Retry-After, so a wrong header cannot stall the run.</param>
public sealed record SenderPolicy(
    int MaxTransientRetries,
    TimeSpan InitialBackoff,
    TimeSpan MaxBackoff,
    TimeSpan DefaultRetryAfter,
    TimeSpan MaxRetryAfter)
{
    public static SenderPolicy Default { get; } = new(
        MaxTransientRetries: 10,
        InitialBackoff: TimeSpan.FromMilliseconds(200),
        MaxBackoff: TimeSpan.FromSeconds(10),
        DefaultRetryAfter: TimeSpan.FromSeconds(1),
        MaxRetryAfter: TimeSpan.FromSeconds(60));
}
