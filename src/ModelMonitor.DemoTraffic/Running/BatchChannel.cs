using System.Threading.Channels;
using ModelMonitor.Core.Contracts;

namespace ModelMonitor.DemoTraffic.Running;

/// <summary>
/// Batches from one producer to the sending workers. Bounded, so a slow API slows the producer down
/// instead of letting memory grow.
/// </summary>
public static class BatchChannel
{
    public static Channel<List<PredictionLog>> Create(int concurrency) =>
        Channel.CreateBounded<List<PredictionLog>>(new BoundedChannelOptions(concurrency * 2)
        {
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
}
