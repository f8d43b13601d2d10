using System.Diagnostics;
using Confluent.Kafka;

namespace ModelMonitor.Ingestion.Kafka;

/// <summary>
/// The predictions topic's partition count, which places every record (<c>PredictionPartitioner</c>): read once,
/// then refreshed in the background every 30 s (partitions can be added while we run), or at once after a delivery
/// error says the topic changed. 0 while it cannot be read (broker unreachable, topic missing): a request then fails
/// at once rather than waiting, and the next attempt is at most once a second.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable",
    Justification = "The gate's Dispose only frees a wait handle that AvailableWaitHandle would create, never used here; disposing it while a background refresh still holds it would throw in that refresh.")]
internal sealed class TopicPartitionCount(string topic, Func<TimeSpan, TopicMetadata?> readMetadata, TimeSpan timeout, ILogger logger)
{
    private static readonly TimeSpan Refresh = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Retry = TimeSpan.FromSeconds(1);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile int _count; // 0 = not known yet
    private long _checkedTicks;
    private long _failedTicks;

    public async ValueTask<int> GetAsync()
    {
        var known = _count;
        if (known > 0)
        {
            if (Stopwatch.GetElapsedTime(Interlocked.Read(ref _checkedTicks)) > Refresh
                && Stopwatch.GetElapsedTime(Interlocked.Read(ref _failedTicks)) > Retry
                && _gate.Wait(0))
            {
                _ = Task.Run(() =>
                {
                    try
                    {
                        Read();
                    }
                    finally
                    {
                        _gate.Release();
                    }
                });
            }
            return known;
        }
        var failed = Interlocked.Read(ref _failedTicks);
        if (failed != 0 && Stopwatch.GetElapsedTime(failed) < Retry)
        {
            return 0;
        }
        await _gate.WaitAsync();
        try
        {
            if (_count == 0)
            {
                await Task.Run(Read);
            }
            return _count;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Read the metadata again at the next request.</summary>
    public void Invalidate() => Interlocked.Exchange(ref _checkedTicks, 0);

    private void Read()
    {
        try
        {
            var metadata = readMetadata(timeout);
            if (metadata is null || metadata.Error.IsError || metadata.Partitions.Count == 0)
            {
                throw new KafkaException(metadata?.Error ?? new Error(ErrorCode.UnknownTopicOrPart));
            }
            if (metadata.Partitions.Count != _count)
            {
                logger.LogInformation("Kafka topic {Topic} has {Partitions} partitions", topic, metadata.Partitions.Count);
            }
            _count = metadata.Partitions.Count;
            Interlocked.Exchange(ref _checkedTicks, Stopwatch.GetTimestamp());
            Interlocked.Exchange(ref _failedTicks, 0);
        }
        catch (KafkaException e)
        {
            Interlocked.Exchange(ref _failedTicks, Stopwatch.GetTimestamp());
            logger.LogWarning("Cannot read the partitions of Kafka topic {Topic}: {Reason}", topic, e.Error.Reason);
        }
        catch (ObjectDisposedException)
        {
            // The API is shutting down.
        }
    }
}
