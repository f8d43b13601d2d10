using System.Threading.Channels;
using ModelMonitor.Core.Contracts;
using ModelMonitor.DemoTraffic.Sending;

namespace ModelMonitor.DemoTraffic.Running;

/// <summary>Runs <c>concurrency</c> workers that each send one batch at a time from the channel.</summary>
public static class SenderPool
{
    /// <summary>
    /// Sends until the channel is completed and empty. Once <paramref name="stopping"/> is signalled the
    /// queued batches are dropped unsent; a request in flight finishes unless <paramref name="aborting"/> fires.
    /// </summary>
    public static Task RunAsync(ChannelReader<List<PredictionLog>> batches, PredictionSender sender, int concurrency, CancellationToken stopping, CancellationToken aborting)
    {
        var workers = new Task[concurrency];
        for (var i = 0; i < concurrency; i++)
        {
            workers[i] = WorkAsync(batches, sender, stopping, aborting);
        }

        return Task.WhenAll(workers);
    }

    private static async Task WorkAsync(ChannelReader<List<PredictionLog>> batches, PredictionSender sender, CancellationToken stopping, CancellationToken aborting)
    {
        try
        {
            while (await batches.WaitToReadAsync(stopping))
            {
                while (!stopping.IsCancellationRequested && batches.TryRead(out var batch))
                {
                    await sender.SendAsync(batch, stopping, aborting);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Stopped: whatever is still queued was never sent.
        }
    }
}
