using System.Diagnostics;
using System.Text.Json;
using Confluent.Kafka;

namespace ModelMonitor.Ingestion.Kafka;

/// <summary>
/// Whether the producer can reach Kafka, from librdkafka's statistics (every second: the state of each broker
/// connection) and its all-brokers-down error. Feeds /readyz and the API's fail-fast 503 while Kafka is down.
/// </summary>
internal sealed class BrokerHealth(TimeSpan statisticsInterval)
{
    private long _allBrokersDownSinceTicks; // 0 = some broker up (or not known yet)
    private long _lastStatisticsTicks;

    /// <summary>True once statistics showed a broker up and none showed all brokers down since.</summary>
    public bool IsConnected => Interlocked.Read(ref _lastStatisticsTicks) != 0 && Interlocked.Read(ref _allBrokersDownSinceTicks) == 0;

    /// <summary>All brokers have been unreachable for two statistics intervals: fail fast instead of queueing.</summary>
    public bool IsUnavailable
    {
        get
        {
            var since = Interlocked.Read(ref _allBrokersDownSinceTicks);
            return since != 0 && Stopwatch.GetElapsedTime(since) > statisticsInterval * 2;
        }
    }

    /// <summary>Reads one statistics document; returns the producer's queue depth (msg_cnt) when present.</summary>
    public double? Observe(JsonElement statistics)
    {
        var anyUp = false;
        if (statistics.TryGetProperty("brokers", out var brokers))
        {
            foreach (var broker in brokers.EnumerateObject())
            {
                if (broker.Value.TryGetProperty("nodeid", out var id) && id.GetInt32() >= 0
                    && broker.Value.TryGetProperty("state", out var state) && state.GetString() == "UP")
                {
                    anyUp = true;
                }
            }
        }
        if (anyUp)
        {
            Interlocked.Exchange(ref _allBrokersDownSinceTicks, 0);
        }
        else
        {
            AllDown();
        }
        Interlocked.Exchange(ref _lastStatisticsTicks, Stopwatch.GetTimestamp());
        return statistics.TryGetProperty("msg_cnt", out var queued) ? queued.GetDouble() : null;
    }

    /// <summary>librdkafka reported <see cref="ErrorCode.Local_AllBrokersDown"/>.</summary>
    public void AllDown() => Interlocked.CompareExchange(ref _allBrokersDownSinceTicks, Stopwatch.GetTimestamp(), 0);
}
