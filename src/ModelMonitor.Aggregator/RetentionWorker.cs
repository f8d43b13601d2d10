using Microsoft.Extensions.Options;
using ModelMonitor.Core.Evaluation;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Statistics;
using Npgsql;

namespace ModelMonitor.Aggregator;

/// <summary>Deletes windows older than Aggregator:Retention allows, periodically, in small batches.</summary>
internal sealed class RetentionWorker(
    IOptions<AggregatorOptions> options,
    IOptions<EvaluationOptions> evaluationOptions,
    StatisticsStore store,
    SchemaMigration schema,
    TimeProvider time,
    ILogger<RetentionWorker> logger) : BackgroundService
{
    // The drift history of a window goes with the window. Evaluation windows are kept a label horizon longer: an outcome
    // may still arrive for them until then, and would re-create a deleted row with only its own pair.
    private static readonly string[] Tables = ["feature_window_stats", "model_window_stats", "feature_drift", "prediction_drift", "drift_windows",
        EvaluationTable];

    private const string EvaluationTable = "evaluation_window_stats";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        var rules = settings.ParsedRetention;
        if (rules.Count == 0)
        {
            return;
        }

        // A first pass shortly after start, then every RetentionInterval.
        var delay = TimeSpan.FromSeconds(10);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(delay, time, stoppingToken);
                await schema.WhenMigratedAsync(stoppingToken);
                foreach (var (window, keep) in rules)
                {
                    var cutoff = time.GetUtcNow() - keep;
                    foreach (var table in Tables)
                    {
                        var tableCutoff = table == EvaluationTable ? cutoff - evaluationOptions.Value.LongestHorizon : cutoff;
                        var total = 0;
                        int deleted;
                        do
                        {
                            deleted = await store.DeleteExpiredAsync(table, window.Seconds, tableCutoff, settings.RetentionBatchSize, stoppingToken);
                            total += deleted;
                        }
                        while (deleted == settings.RetentionBatchSize && !stoppingToken.IsCancellationRequested);

                        if (total > 0)
                        {
                            logger.LogInformation("Retention deleted {Rows} {Window} rows from {Table} older than {Cutoff}", total, window.ToString(), table, tableCutoff);
                        }
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                logger.LogWarning("Retention pass failed, retrying at the next interval: {Error}", e.Message);
            }

            delay = settings.RetentionInterval;
        }
    }
}
