using ModelMonitor.Storage;

namespace ModelMonitor.Aggregator;

/// <summary>
/// A background task of the aggregator that runs once the schema is migrated, then every <see cref="Interval"/> until the
/// service stops (the evaluation and shadow expiry, the primary watcher). A turn handles its own failures.
/// </summary>
internal abstract class PeriodicWorker(SchemaMigration schema, TimeProvider time) : BackgroundService
{
    protected TimeProvider Time { get; } = time;

    /// <summary>Off: the worker does nothing.</summary>
    protected virtual bool Enabled => true;

    protected abstract TimeSpan Interval { get; }

    /// <summary>One turn; must not throw but on cancellation.</summary>
    protected abstract Task RunOnceAsync(CancellationToken cancellationToken);

    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled)
        {
            return;
        }
        try
        {
            await schema.WhenMigratedAsync(stoppingToken);
            using var timer = new PeriodicTimer(Interval, Time);
            do
            {
                await RunOnceAsync(stoppingToken);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
