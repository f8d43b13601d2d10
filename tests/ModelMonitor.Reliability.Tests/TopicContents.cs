using Confluent.Kafka;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Kafka;

namespace ModelMonitor.Reliability.Tests;

/// <summary>Everything a topic holds, read back partition by partition from the first offset to the high watermark.</summary>
internal static class TopicContents
{
    /// <summary>
    /// Every prediction log of <paramref name="topic"/> (a message holds one or more). Fails if the mock cluster's retention already deleted
    /// the start of a partition (low watermark above 0): the check would then be incomplete.
    /// </summary>
    public static List<PredictionLog> ReadAll(string bootstrapServers, string topic, int partitions)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]>(new ConsumerConfig
        {
            BootstrapServers = bootstrapServers,
            GroupId = $"reliability-reader-{Guid.NewGuid():N}",
            EnableAutoCommit = false,
            EnablePartitionEof = true,
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build();
        var highs = new Dictionary<int, long>();
        for (var p = 0; p < partitions; p++)
        {
            var marks = consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10));
            Assert.True(marks.Low.Value == 0,
                $"Partition {p} of {topic} starts at offset {marks.Low.Value}: the mock cluster's ~5 MB retention dropped records, keep the test's volume lower.");
            highs[p] = marks.High.Value;
        }

        consumer.Assign(highs.Where(h => h.Value > 0).Select(h => new TopicPartitionOffset(topic, h.Key, Offset.Beginning)));
        var open = highs.Where(h => h.Value > 0).Select(h => h.Key).ToHashSet();
        var logs = new List<PredictionLog>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (open.Count > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"Reading {topic} back took over 60 s ({logs.Count} records so far).");
            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result is null)
            {
                continue;
            }

            if (result.IsPartitionEOF)
            {
                if (result.Offset.Value >= highs[result.Partition.Value])
                {
                    open.Remove(result.Partition.Value);
                }

                continue;
            }

            var errors = new List<string>();
            PredictionMessages.Decode(result.Message.Value, logs, errors);
            Assert.True(errors.Count == 0, $"undecodable record in the message at {result.TopicPartitionOffset}: {errors.FirstOrDefault()}");
            if (result.Offset.Value + 1 >= highs[result.Partition.Value])
            {
                open.Remove(result.Partition.Value);
            }
        }

        consumer.Close();
        return logs;
    }

    /// <summary>Ledger entries (acknowledged records) missing from the topic.</summary>
    public static List<(string PredictionId, string ModelId)> Missing(
        IEnumerable<(string PredictionId, string ModelId)> acknowledged, IEnumerable<PredictionLog> topic)
    {
        var present = topic.Select(l => (l.PredictionId, l.ModelId)).ToHashSet();
        return [.. acknowledged.Where(a => !present.Contains(a))];
    }

    /// <summary>How many (prediction_id, model_id) keys appear more than once.</summary>
    public static int Duplicates(IEnumerable<(string PredictionId, string ModelId)> keys) =>
        keys.GroupBy(k => k).Count(g => g.Count() > 1);
}
