using Microsoft.Extensions.Options;
using ModelMonitor.Core.Predictors;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Predictors;
using Npgsql;

namespace ModelMonitor.Aggregator.Predictors;

/// <summary>
/// Every Predictors:PrimaryCheckInterval, decides each predictor's primary (<see cref="ModelRoles.PrimaryOf"/>: the
/// registered one, else the model with the most predictions in the last hour, from the smallest window size) and records it
/// in predictor_primaries; a change also goes to predictor_primary_changes, which the exporter publishes as
/// modelmonitor_predictor_primary_changed_timestamp_seconds (ModelMonitorPrimaryModelChanged, the Predictor dashboard's
/// annotations). Instances may run it at once: the record is one locked transaction.
/// </summary>
internal sealed class PrimaryWatcher(
    IOptions<PredictorOptions> options,
    IOptions<AggregatorOptions> aggregatorOptions,
    PredictorRegistryStore registry,
    SchemaMigration schema,
    TimeProvider time,
    ILogger<PrimaryWatcher> logger) : PeriodicWorker(schema, time)
{
    protected override TimeSpan Interval => options.Value.PrimaryCheckInterval;

    protected override Task RunOnceAsync(CancellationToken cancellationToken) => CheckAsync(cancellationToken);

    internal async Task CheckAsync(CancellationToken cancellationToken)
    {
        try
        {
            var now = Time.GetUtcNow();
            var smallest = aggregatorOptions.Value.ParsedWindows.Min();
            var registered = (await registry.ReadPredictorsAsync(null, cancellationToken))
                .ToDictionary(p => p.PredictorName, p => p.Registration.PrimaryModelId, StringComparer.Ordinal);
            var recorded = (await registry.ReadPrimariesAsync(cancellationToken)).ToDictionary(p => p.PredictorName, StringComparer.Ordinal);
            var traffic = (await registry.ReadLastHourTrafficAsync(smallest.Seconds, now, cancellationToken))
                .GroupBy(t => t.PredictorName, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => (IReadOnlyDictionary<string, long>)g.ToDictionary(t => t.ModelId, t => t.Count, StringComparer.Ordinal),
                    StringComparer.Ordinal);
            var decided = new List<(string, string, string)>();
            foreach (var predictor in registered.Keys.Union(traffic.Keys).Order(StringComparer.Ordinal))
            {
                var current = recorded.TryGetValue(predictor, out var r) && r.Source == "inferred" ? r.ModelId : null;
                var primary = ModelRoles.PrimaryOf(registered.GetValueOrDefault(predictor), current,
                    traffic.TryGetValue(predictor, out var counts) ? counts : new Dictionary<string, long>());
                if (primary is { } p)
                {
                    decided.Add((predictor, p.ModelId, p.Registered ? "registered" : "inferred"));
                }
            }
            foreach (var change in await registry.RecordPrimariesAsync(decided, now, cancellationToken))
            {
                logger.LogInformation("The primary of predictor {Predictor} changed from {Previous} to {Model} ({Source})",
                    change.PredictorName, change.PreviousModelId, change.ModelId, change.Source);
            }
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            logger.LogWarning("Deciding the predictors' primaries failed ({Error}); retrying at the next turn", e.Message);
        }
    }
}
