using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelMonitor.Storage;
using ModelMonitor.Storage.References;

namespace ModelMonitor.References.Production;

/// <summary>
/// Builds every model's <c>production</c> reference from its own stored windows (zero onboarding): every
/// References:ProductionCheckInterval, the references that are due (<see cref="ProductionPeriod"/>) are rebuilt, one model
/// at a time, by one aggregator instance at a time (a Postgres advisory lock).
/// </summary>
internal sealed class ProductionReferenceWorker(
    SchemaMigration schema,
    ReferenceStore store,
    StoredWindowReader windows,
    IOptions<ReferenceOptions> options,
    TimeProvider time,
    ILogger<ProductionReferenceWorker> logger) : BackgroundService
{
    // pg_try_advisory_lock key: "modelmonitor production references".
    private const long LockKey = 0x4d4d_5052_4546;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (settings.ProductionCheckInterval == TimeSpan.Zero)
        {
            return;
        }

        await ExclusiveSchedule.RunAsync(schema, store, LockKey, settings.ProductionCheckInterval, time,
            token => RunOnceAsync(settings, token), logger, "Building production references", stoppingToken);
    }

    /// <summary>Rebuilds the production references that are due; the number rebuilt.</summary>
    internal async Task<int> RunOnceAsync(ReferenceOptions settings, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var built = await store.ProductionBuiltAsync(cancellationToken);
        var builder = new WindowReferenceBuilder(windows, settings.ThresholdWindows);
        var rebuilt = 0;
        foreach (var (predictor, model, firstSeen) in await windows.ModelsAsync(now - settings.ProductionPeriod - settings.ProductionLag, cancellationToken))
        {
            var (from, to, young) = ProductionPeriod.Of(firstSeen, now, settings.ProductionPeriod, settings.ProductionLag);
            if (!ProductionPeriod.Due(built.TryGetValue((predictor, model), out var at) ? at : null, young, now, settings.ProductionRebuildAge, settings.ProductionCheckInterval))
            {
                continue;
            }

            if (await builder.BuildAsync(predictor, model, from, to, cancellationToken) is not { } reference)
            {
                continue;
            }

            await store.ReplaceAsync(new ReferenceKey(predictor, model, ReferenceEndpoints.ProductionName), ReferenceKinds.Production, "windows",
                (from, to), reference.Profile, reference.Thresholds, cancellationToken);
            rebuilt++;
            logger.LogInformation(
                "Built the production reference of {Predictor}/{Model}: {From:u} to {To:u}, {Rows} predictions from {Windows} windows of {Size} s",
                predictor, model, from, to, reference.Profile.RowCount, reference.MergedWindows, reference.MergedWindowSeconds);
        }

        return rebuilt;
    }
}
