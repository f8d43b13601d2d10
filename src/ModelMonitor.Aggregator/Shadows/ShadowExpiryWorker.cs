using Microsoft.Extensions.Options;
using ModelMonitor.Core.Shadows;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Shadows;
using Npgsql;

namespace ModelMonitor.Aggregator.Shadows;

/// <summary>
/// Keeps the shadow join's waiting predictions bounded by the join window: every minute deletes those whose sent_at is more
/// than 2 × Shadow:JoinWindow ago (a prediction read within the join window of its sent_at can pair with one up to the join
/// window older, so nothing that could still pair is deleted). Instances may run it at once.
/// </summary>
internal sealed class ShadowExpiryWorker(
    IOptions<ShadowOptions> options,
    ShadowStore store,
    SchemaMigration schema,
    ShadowMetrics metrics,
    TimeProvider time,
    ILogger<ShadowExpiryWorker> logger) : PeriodicWorker(schema, time)
{
    private const int BatchSize = 10_000;
    protected override bool Enabled => options.Value.Enabled;

    protected override TimeSpan Interval { get; } = TimeSpan.FromMinutes(1);

    protected override Task RunOnceAsync(CancellationToken cancellationToken) => ExpireAsync(cancellationToken);

    internal async Task ExpireAsync(CancellationToken cancellationToken)
    {
        try
        {
            int deleted;
            do
            {
                deleted = await store.ExpireAsync(Time.GetUtcNow() - (2 * options.Value.JoinWindow), BatchSize, cancellationToken);
                metrics.Expired.Inc(deleted);
            }
            while (deleted >= BatchSize);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            logger.LogWarning("Shadow join expiry failed ({Error}); retrying at the next turn", e.Message);
        }
    }
}
