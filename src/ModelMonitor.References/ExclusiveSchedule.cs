using Microsoft.Extensions.Logging;
using ModelMonitor.Storage;
using ModelMonitor.Storage.References;

namespace ModelMonitor.References;

/// <summary>The loop of the aggregator's reference workers (production references, drift history).</summary>
internal static class ExclusiveSchedule
{
    /// <summary>
    /// Once the schema is migrated, <paramref name="work"/> at once and then every <paramref name="interval"/>, each time under
    /// the Postgres advisory lock <paramref name="lockKey"/> (one aggregator instance at a time; the others skip the turn). A
    /// failure is logged (<paramref name="what"/> failed) and retried at the next turn; stopping abandons the work in progress
    /// (its transaction rolls back).
    /// </summary>
    public static async Task RunAsync(SchemaMigration schema, ReferenceStore store, long lockKey, TimeSpan interval, TimeProvider time,
        Func<CancellationToken, Task> work, ILogger logger, string what, CancellationToken stoppingToken)
    {
        try
        {
            await schema.WhenMigratedAsync(stoppingToken);
            using var timer = new PeriodicTimer(interval, time);
            do
            {
                try
                {
                    await store.ExclusivelyAsync(lockKey, work, stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    logger.LogWarning(e, "{Work} failed; retrying at the next turn", what);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }
}
