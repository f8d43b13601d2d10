using Microsoft.Extensions.Logging;
using ModelMonitor.Core.Aggregation;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.Aggregator.Consuming;

/// <summary>
/// During a replay (see <see cref="PoisonReplay"/>), one message's records: written first in a transaction that is
/// rolled back; if Postgres refuses them, bisection finds the records it refuses, which are counted as poison and
/// logged, and the delta keeps the others (committed with the message's offset by the next flush: exactly once).
/// </summary>
internal sealed class PoisonIsolation(StatisticsStore store, AggregatorOptions options, AggregatorMetrics metrics, string topic, ILogger logger)
{
    /// <summary>Leaves in each of <paramref name="deltas"/> (the window sizes that hold this message) the records of this
    /// message Postgres accepts. Postgres errors other than data errors propagate (the caller retries the message).</summary>
    public async Task IsolateAsync(IReadOnlyList<AggregationDelta> deltas, int partition, long offset, PredictionLog[] logs, int records, CancellationToken cancellationToken)
    {
        if (!await RefusedAsync(deltas, cancellationToken))
        {
            return;
        }

        var poison = await PoisonReplay.FindPoisonAsync(logs.Length, async set =>
        {
            var trial = new AggregationDelta(options.ParsedWindows, options.CategoryCapacity);
            foreach (var i in set)
            {
                trial.Add(logs[i]);
            }
            return await RefusedAsync([trial], cancellationToken);
        });
        if (poison.Count == 0)
        {
            // Each record alone is accepted but not all together: nothing narrower to skip than the message.
            poison = [.. Enumerable.Range(0, logs.Length)];
        }

        var skipped = new HashSet<int>(poison);
        foreach (var delta in deltas)
        {
            delta.Clear();
            for (var i = 0; i < logs.Length; i++)
            {
                if (!skipped.Contains(i))
                {
                    delta.Add(logs[i]);
                }
            }

            delta.Advance(partition, offset + 1, records);
        }

        metrics.RecordsPoison.Inc(poison.Count);
        logger.LogError(
            "Postgres refuses {Count} of {Records} records at {Topic} partition {Partition} offset {Offset} (records {Positions}, predictor {Predictor}, model {Model}): skipped as poison, the others are committed",
            poison.Count,
            logs.Length,
            topic,
            partition,
            offset,
            poison.Take(10),
            logs[poison[0]].PredictorName,
            logs[poison[0]].ModelId);
    }

    /// <summary>Whether Postgres refuses the values of <paramref name="deltas"/> (a data error); other errors propagate.</summary>
    private async Task<bool> RefusedAsync(IReadOnlyList<AggregationDelta> deltas, CancellationToken cancellationToken)
    {
        try
        {
            await store.TryWriteAsync(deltas, cancellationToken);
            return false;
        }
        catch (Exception e) when (PoisonReplay.IsDataError(e))
        {
            return true;
        }
    }
}
