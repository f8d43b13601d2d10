using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelMonitor.Core.Drift;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Drift;
using ModelMonitor.Storage.References;
using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.References.Drift;

/// <summary>
/// Stores each completed window's drift against every reference of its model (feature_drift, prediction_drift): every
/// Drift:HistoryInterval, each window size's windows that ended at least Drift:HistoryDelay ago (the latest
/// Drift:HistoryCatchUpWindows of them) and whose drift is not stored, or was stored before late records changed them,
/// oldest first, one transaction per window, by one aggregator instance at a time (a Postgres advisory lock). The
/// distances are those the exporter exports (<see cref="WindowDrift"/>), over every feature (no cardinality cap: Postgres
/// is not Prometheus).
/// </summary>
internal sealed class DriftHistoryWorker(
    SchemaMigration schema,
    StatisticsReader reader,
    ReferenceStore references,
    DriftHistoryStore history,
    IOptions<DriftOptions> options,
    TimeProvider time,
    ILogger<DriftHistoryWorker> logger) : BackgroundService
{
    // pg_try_advisory_lock key: "modelmonitor drift history".
    private const long LockKey = 0x4d4d_4448_4953;

    private readonly LoadedDriftReferences _references = new(references);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (!settings.Enabled || !settings.History)
        {
            return;
        }

        await ExclusiveSchedule.RunAsync(schema, references, LockKey, settings.HistoryInterval, time,
            token => RunOnceAsync(settings, token), logger, "Storing drift history", stoppingToken);
    }

    /// <summary>Stores the drift of every window that is due; the number of windows stored.</summary>
    internal async Task<int> RunOnceAsync(DriftOptions settings, CancellationToken cancellationToken)
    {
        var (loaded, _) = await _references.RefreshAsync(settings, cancellationToken);
        if (loaded.Count == 0)
        {
            return 0; // nothing to compare with; windows are stored from when a reference exists (up to the catch-up)
        }

        var now = time.GetUtcNow();
        var stored = 0;
        foreach (var size in await reader.WindowSizesAsync(cancellationToken))
        {
            if (settings.ParsedWindows is { } windows && !windows.Contains(size))
            {
                continue;
            }

            // The completed windows of the catch-up range (the latest HistoryCatchUpWindows) that are new or changed.
            var latest = StatisticsReader.LatestCompletedWindowStart(now, size, settings.HistoryDelay);
            var first = latest.AddSeconds(-(double)size * (settings.HistoryCatchUpWindows - 1));
            foreach (var start in await history.DueWindowsAsync(size, first, latest, cancellationToken))
            {
                cancellationToken.ThrowIfCancellationRequested();
                await StoreWindowAsync(settings, loaded, size, start, cancellationToken);
                stored++;
            }
        }

        return stored;
    }

    private async Task StoreWindowAsync(DriftOptions settings, DriftReferences loaded, int size, DateTimeOffset start, CancellationToken cancellationToken)
    {
        var (models, features) = await reader.ReadWindowAsync(size, start, cancellationToken);
        var (featureRows, predictionRows) = DriftHistoryRows.Of(models, features, loaded, settings, size);
        // The predictions read with these rows: a later count means records arrived late, and the window is stored again.
        await history.WriteAsync(size, start, models.Sum(m => m.PredictionCount), featureRows, predictionRows, cancellationToken);
    }
}
