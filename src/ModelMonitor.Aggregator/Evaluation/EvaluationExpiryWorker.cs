using Microsoft.Extensions.Options;
using ModelMonitor.Core.Evaluation;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Evaluation;
using Npgsql;

namespace ModelMonitor.Aggregator.Evaluation;

/// <summary>
/// Keeps the join's store bounded by the label horizon: every Evaluation:ExpiryInterval, deletes the predictions and
/// outcomes past their expires_at in batches, and counts those that never met (a prediction never labelled, an outcome
/// whose prediction never arrived). Instances may run it at once: a row is deleted, and counted, by one of them.
/// </summary>
internal sealed class EvaluationExpiryWorker(
    IOptions<EvaluationOptions> options,
    EvaluationStore store,
    SchemaMigration schema,
    EvaluationMetrics metrics,
    TimeProvider time,
    ILogger<EvaluationExpiryWorker> logger) : PeriodicWorker(schema, time)
{
    private const int BatchSize = 10_000;

    protected override bool Enabled => options.Value.Enabled;

    protected override TimeSpan Interval => options.Value.ExpiryInterval;

    protected override Task RunOnceAsync(CancellationToken cancellationToken) => ExpireAsync(cancellationToken);

    internal async Task ExpireAsync(CancellationToken cancellationToken)
    {
        try
        {
            int deleted;
            do
            {
                (var unlabelled, var unmatched, deleted) = await store.ExpireAsync(Time.GetUtcNow(), BatchSize, cancellationToken);
                metrics.PredictionsExpired.Inc(unlabelled);
                metrics.OutcomesExpired.Inc(unmatched);
                if (unlabelled + unmatched > 0)
                {
                    logger.LogInformation("Expired at the label horizon: {Predictions} predictions never labelled, {Outcomes} outcomes whose prediction never arrived",
                        unlabelled, unmatched);
                }
            }
            while (deleted >= BatchSize);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            logger.LogWarning("Evaluation expiry failed ({Error}); retrying at the next turn", e.Message);
        }
    }
}
