using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace ModelMonitor.Ingestion;

/// <summary>
/// Admission control of POST /v1/predictions, in two stages so that slow senders cannot starve the others:
/// 1. receiving a body holds only memory, bounded by a byte budget (Ingestion:MaxBufferedBodyBytes): a
///    client trickling its body (slowloris) costs a few bytes until Kestrel's minimum data rate cuts it off;
/// 2. validating and writing to Kafka holds one of Ingestion:MaxConcurrentRequests permits, taken only once
///    the whole body is in, with a bounded queue (Ingestion:MaxQueuedRequests) behind it.
/// Beyond either bound the caller gets 429 with Retry-After.
/// </summary>
public sealed class IngestionAdmission : IDisposable
{
    private readonly ConcurrencyLimiter _processing;
    private readonly long _bodyBudget;
    private readonly IngestionMetrics _metrics;
    private long _bufferedBytes;

    public IngestionAdmission(IOptions<IngestionOptions> options, IngestionMetrics metrics)
    {
        var settings = options.Value;
        _bodyBudget = settings.MaxBufferedBodyBytes;
        _metrics = metrics;
        _processing = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = settings.MaxConcurrentRequests,
            QueueLimit = settings.MaxQueuedRequests,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
    }

    /// <summary>Bytes of request bodies held in memory right now.</summary>
    public long BufferedBytes => Interlocked.Read(ref _bufferedBytes);

    /// <summary>Reserves memory for body bytes; false when the budget would be exceeded.</summary>
    public bool TryReserveBody(long bytes)
    {
        var after = Interlocked.Add(ref _bufferedBytes, bytes);
        if (after > _bodyBudget)
        {
            Interlocked.Add(ref _bufferedBytes, -bytes);
            return false;
        }
        _metrics.BufferedBodyBytes.Set(after);
        return true;
    }

    public void ReleaseBody(long bytes) => _metrics.BufferedBodyBytes.Set(Interlocked.Add(ref _bufferedBytes, -bytes));

    /// <summary>Waits for a processing permit; the lease is not acquired when the queue is full.</summary>
    public ValueTask<RateLimitLease> EnterProcessingAsync(CancellationToken cancellationToken) =>
        _processing.AcquireAsync(1, cancellationToken);

    public void Dispose() => _processing.Dispose();
}
