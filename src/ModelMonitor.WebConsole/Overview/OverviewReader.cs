using Dapper;
using ModelMonitor.WebConsole.Shared;
using Npgsql;
using static ModelMonitor.Storage.PostgresValues;

namespace ModelMonitor.WebConsole.Overview;

/// <summary>
/// What the overview shows, in five bounded queries whatever the number of models (no query per model): the window sizes
/// stored lately; the models seen within the span and not retired since, with their roles; predictions per hour over the
/// span (from the largest window size up to an hour); predictions in the last hour (from the smallest size); the features
/// drifting beyond their threshold or with a schema anomaly in the latest drift window. The features more than half missing
/// or defaulted, or with a non-finite value, in the latest complete window come from the exporter's refresh
/// (<see cref="LatestWindow"/>), which reads that whole window anyway: at 500 models × 300 features reading it again here
/// took seconds per view (BENCHMARKS.md §16).
/// </summary>
public sealed class OverviewReader(NpgsqlDataSource dataSource, LatestWindow latestWindow)
{

    public async Task<IReadOnlyList<OverviewModel>> ReadAsync(DateTimeOffset now, TimeSpan span, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var from = now - span;
        var sizes = (await connection.QueryAsync<int>(new CommandDefinition(
            "SELECT DISTINCT window_seconds FROM model_window_stats WHERE window_start >= @recent",
            new { recent = (now - TimeSpan.FromHours(2)).UtcDateTime }, cancellationToken: cancellationToken))).Order().ToList();
        var models = (await connection.QueryAsync<(string Predictor, string Model, DateTime LastSeen, string Role)>(new CommandDefinition(
            """
            SELECT m.predictor_name, m.model_id, m.last_seen,
                   CASE WHEN p.primary_model_id = m.model_id THEN 'primary'
                        WHEN m.model_id = ANY (p.shadow_model_ids) THEN 'shadow'
                        WHEN pp.model_id = m.model_id THEN 'inferred primary'
                        ELSE 'candidate' END
            FROM models m
            LEFT JOIN predictors p ON p.predictor_name = m.predictor_name
            LEFT JOIN predictor_primaries pp ON pp.predictor_name = m.predictor_name
            WHERE m.last_seen >= @from
              AND NOT EXISTS (SELECT 1 FROM retired_models r WHERE r.predictor_name = m.predictor_name
                              AND r.model_id IN ('', m.model_id) AND r.retired_at >= m.last_seen)
            ORDER BY m.predictor_name, m.model_id
            """,
            new { from = from.UtcDateTime }, cancellationToken: cancellationToken))).ToList();
        if (models.Count == 0 || sizes.Count == 0)
        {
            return [.. models.Select(m => new OverviewModel(m.Predictor, m.Model, m.Role, 0, [], Utc(m.LastSeen), 0, []))];
        }

        var hourlySize = sizes.Where(s => s <= 3600).DefaultIfEmpty(sizes[0]).Max();
        var smallest = sizes[0];
        var hours = (int)Math.Ceiling(span.TotalHours);
        var firstHour = new DateTimeOffset(now.UtcDateTime.Date.AddHours(now.UtcDateTime.Hour), TimeSpan.Zero).AddHours(1 - hours);
        var hourly = (await connection.QueryAsync<(string Predictor, string Model, DateTime Hour, long Count)>(new CommandDefinition(
            """
            SELECT predictor_name, model_id, date_trunc('hour', window_start AT TIME ZONE 'UTC'), sum(prediction_count)::bigint
            FROM model_window_stats
            WHERE window_seconds = @size AND window_start >= @from
            GROUP BY 1, 2, 3
            """,
            new { size = hourlySize, from = firstHour.UtcDateTime }, cancellationToken: cancellationToken)))
            .ToLookup(r => (r.Predictor, r.Model));
        var lastHour = (await connection.QueryAsync<(string Predictor, string Model, long Count)>(new CommandDefinition(
            """
            SELECT predictor_name, model_id, sum(prediction_count)::bigint FROM model_window_stats
            WHERE window_seconds = @size AND window_start >= @from GROUP BY 1, 2
            """,
            new { size = smallest, from = (now - TimeSpan.FromHours(1)).UtcDateTime }, cancellationToken: cancellationToken)))
            .ToDictionary(r => (r.Predictor, r.Model), r => r.Count);
        // Drift over its threshold, or a schema anomaly, in the latest drift window of the smallest size (a partial index
        // holds those rows alone: V9).
        var drifting = (await connection.QueryAsync<(string Predictor, string Model, string Feature)>(new CommandDefinition(
            """
            WITH w AS (
                SELECT window_seconds, window_start FROM drift_windows WHERE window_start >= @from
                ORDER BY window_seconds, window_start DESC LIMIT 1)
            SELECT DISTINCT d.predictor_name, d.model_id, d.feature
            FROM feature_drift d JOIN w USING (window_seconds, window_start)
            WHERE d.drifting OR d.schema_anomaly IS NOT NULL
            """,
            new { from = from.UtcDateTime }, cancellationToken: cancellationToken)))
            .ToLookup(r => (r.Predictor, r.Model), r => r.Feature);
        // More than half missing or defaulted, or any non-finite value, in the latest complete window: from the exporter's
        // refresh, which reads that whole window anyway (null before its first refresh).
        var window = latestWindow.Current;

        return [.. models.Select(m =>
        {
            var key = (m.Predictor, m.Model);
            var counts = hourly[key].ToDictionary(r => Utc(r.Hour), r => r.Count);
            var series = Enumerable.Range(0, hours).Select(h => counts.GetValueOrDefault(firstHour.AddHours(h))).ToList();
            var features = (window?.Models.GetValueOrDefault(key)?.Problems ?? []).Union(drifting[key], StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            return new OverviewModel(m.Predictor, m.Model, m.Role, lastHour.GetValueOrDefault(key), series, Utc(m.LastSeen), features.Count, [.. features.Take(50)]);
        })];
    }
}
