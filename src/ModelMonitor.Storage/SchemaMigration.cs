using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ModelMonitor.Storage;

/// <summary>
/// Migrates the schema once per process start, in one place: the aggregator's and exporter's workers wait for it
/// (<see cref="WhenMigratedAsync"/>) instead of each migrating. Postgres may be down when the service starts: it
/// retries with a backoff up to 30 s, logging why, and the workers wait (their readiness says so).
/// </summary>
public sealed class SchemaMigration(SchemaMigrator migrator, TimeProvider time, ILogger<SchemaMigration> logger) : BackgroundService
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);
    private readonly TaskCompletionSource _migrated = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>True once the schema is up to date.</summary>
    public bool IsMigrated => _migrated.Task.IsCompletedSuccessfully;

    /// <summary>Completes when the schema is up to date.</summary>
    public Task WhenMigratedAsync(CancellationToken cancellationToken) => _migrated.Task.WaitAsync(cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (true)
        {
            try
            {
                await migrator.MigrateAsync(stoppingToken);
                _migrated.TrySetResult();
                return;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning("Migrating the database schema failed ({Reason}); retrying in {Backoff}", e.Message, backoff);
            }
            await Task.Delay(backoff, time, stoppingToken);
            backoff = backoff * 2 < MaxBackoff ? backoff * 2 : MaxBackoff;
        }
    }
}
