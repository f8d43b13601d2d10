using System.Threading.Channels;
using ModelMonitor.Core.Contracts;
using ModelMonitor.DemoTraffic.Scenarios;

namespace ModelMonitor.DemoTraffic.Running;

/// <summary>Feeds the backfill plan's records to the senders in batches, as fast as they take them.</summary>
public static class BackfillProducer
{
    public static async Task RunAsync(IEnumerable<PredictionLog> records, int batchSize, ChannelWriter<List<PredictionLog>> batches, CancellationToken stopping)
    {
        try
        {
            var batch = new List<PredictionLog>(batchSize);
            foreach (var record in records)
            {
                batch.Add(record);
                if (batch.Count == batchSize)
                {
                    await batches.WriteAsync(batch, stopping);
                    batch = new List<PredictionLog>(batchSize);
                }
            }

            if (batch.Count > 0)
            {
                await batches.WriteAsync(batch, stopping);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Stopped during the backfill.
        }
        finally
        {
            batches.TryComplete();
        }
    }
}
