using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelMonitor.Core.Evaluation;
using ModelMonitor.Core.Shadows;
using ModelMonitor.Exporter.Evaluation;
using ModelMonitor.Exporter.Predictors;
using ModelMonitor.References.Drift;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Evaluation;
using ModelMonitor.Storage.Predictors;
using ModelMonitor.Storage.References;
using ModelMonitor.Storage.Shadows;
using ModelMonitor.Storage.Statistics;
using ModelMonitor.WebConsole.Shared;

namespace ModelMonitor.Exporter;

/// <summary>Refreshes the <see cref="ExpositionCache"/> from Postgres every RefreshInterval. A failed
/// refresh keeps the previous exposition (its age shows in
/// modelmonitor_exporter_last_refresh_timestamp_seconds and ModelMonitorExporterRefreshStale).</summary>
internal sealed class ExporterWorker(
    SchemaMigration schema,
    StatisticsReader reader,
    ExpositionCache cache,
    ReferenceStore references,
    EvaluationStore evaluation,
    IOptions<EvaluationOptions> evaluationOptions,
    IOptions<ExporterOptions> options,
    IOptions<DriftOptions> driftOptions,
    PredictorRegistryStore registry,
    ShadowStore shadows,
    IOptions<ShadowOptions> shadowOptions,
    LatestWindow latestWindow,
    TimeProvider time,
    ILogger<ExporterWorker> logger) : BackgroundService
{
    // The references as last loaded, prepared for comparisons.
    private readonly LoadedDriftReferences _references = new(references);

    // The drift families of the last refresh, served again while their windows and references are unchanged.
    private readonly DriftTextCache _driftText = new();

    // Each model's trailing 7-day quality: a merge of up to a week of windows per model, so read every
    // Evaluation:BaselineInterval rather than at every refresh.
    private IReadOnlyList<EvaluationBaseline> _baselines = [];
    private DateTimeOffset _baselinesAt = DateTimeOffset.MinValue;

    /// <summary>The next refresh renders the drift families of a window size (null: of all) even if nothing they depend on
    /// changed (benchmarks).</summary>
    internal void ForgetDriftText(int? windowSeconds = null) => _driftText.Forget(windowSeconds);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        using var timer = new PeriodicTimer(settings.RefreshInterval, time);
        do
        {
            await RefreshOnceAsync(settings, stoppingToken);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    internal async Task RefreshOnceAsync(ExporterOptions settings, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            // The schema is migrated once per process start (SchemaMigration); refreshes wait for it.
            await schema.WhenMigratedAsync(cancellationToken);
            var now = time.GetUtcNow();
            var drift = driftOptions.Value;
            DriftInput? driftInput = null;
            if (drift.Enabled)
            {
                var (loaded, reloaded) = await _references.RefreshAsync(drift, cancellationToken);
                if (reloaded)
                {
                    logger.LogInformation("Loaded {Count} reference profiles for drift", loaded.Count);
                }

                driftInput = new DriftInput(loaded, drift, _driftText);
            }

            var snapshot = await reader.ReadAsync(now, settings.ToSnapshotQuery(), cancellationToken);
            latestWindow.Publish(LatestWindowSummary.From(snapshot)); // the console's problem features and feature names
            var prepared = ExpositionRenderer.Prepare(snapshot, settings, driftInput);
            if (driftInput is not null && _references.Current.Count > 0)
            {
                // The sketches (most of the bytes of a row) of the windows whose drift families change at this refresh only.
                var sizes = ExpositionRenderer.DriftSizesToRender(prepared, driftInput);
                await reader.ReadSketchesAsync([.. snapshot.Windows.Where(w => sizes.Contains(w.WindowSeconds))], cancellationToken);
            }

            // Room for the previous statistics (the first segment; the drift families have their own) and 1/8 more: one
            // allocation of about the right size, no growth.
            var previous = cache.Current.Segments.Count > 0 ? cache.Current.Segments[0].Length : 0;
            var exposition = ExpositionRenderer.Render(prepared, previous == 0 ? 64 * 1024 : (int)Math.Min(previous + (previous / 8L), Array.MaxLength), driftInput);
            exposition = await WithEvaluationAsync(exposition, now, cancellationToken);
            exposition = await WithPredictorsAsync(exposition, snapshot, settings, now, cancellationToken);
            cache.Publish(exposition, Stopwatch.GetElapsedTime(started), now);
            logger.LogDebug("Exported {Series} series ({Bytes} bytes) in {Elapsed}", exposition.Series, exposition.Length, Stopwatch.GetElapsedTime(started));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Refreshing the statistics from Postgres failed; serving the previous ones");
        }
    }

    /// <summary>The predictor families (roles, ages, primary changes) and the shadow comparison, a segment of their own.</summary>
    private async Task<Exposition> WithPredictorsAsync(Exposition exposition, StatisticsSnapshot snapshot, ExporterOptions settings, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        if (snapshot.Models.Count == 0)
        {
            return exposition;
        }
        var shadowRows = shadowOptions.Value.Enabled
            ? await shadows.ReadLatestAsync(now, settings.CompletionDelay, [.. snapshot.Windows.Select(w => w.WindowSeconds)], cancellationToken)
            : [];
        var input = new PredictorInput(snapshot.Models,
            await registry.ReadPredictorsAsync(null, cancellationToken),
            await registry.ReadModelsAsync(null, cancellationToken),
            await registry.ReadPrimariesAsync(cancellationToken),
            await registry.ReadLatestChangesAsync(cancellationToken),
            shadowRows);
        var (text, series) = PredictorRenderer.Render(input, shadowOptions.Value, now);
        return exposition with { Segments = [.. exposition.Segments, text], Series = exposition.Series + series };
    }

    /// <summary>The evaluation families appended as a segment of their own (model quality from the join's windows).</summary>
    private async Task<Exposition> WithEvaluationAsync(Exposition exposition, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var settings = evaluationOptions.Value;
        if (!settings.Enabled)
        {
            return exposition;
        }
        var rows = await evaluation.ReadLatestLabelledAsync(settings.MinLabelled, now - settings.LongestHorizon - TimeSpan.FromDays(1), cancellationToken);
        if (rows.Count == 0)
        {
            return exposition;
        }
        if (now - _baselinesAt >= settings.BaselineInterval)
        {
            _baselines = await evaluation.ReadBaselinesAsync(now, cancellationToken);
            _baselinesAt = now;
        }
        var (text, series) = EvaluationRenderer.Render(rows, _baselines, settings);
        return exposition with { Segments = [.. exposition.Segments, text], Series = exposition.Series + series };
    }
}
