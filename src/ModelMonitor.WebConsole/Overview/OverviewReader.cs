using Dapper;
using Npgsql;
using static ModelMonitor.Storage.PostgresValues;

namespace ModelMonitor.WebConsole.Overview;

/// <summary>
/// What the overview shows, in four bounded queries whatever the number of models (no query per model): the models seen
/// within the span and not retired since, with their roles; predictions per hour over the span (from the largest window
/// size up to an hour); predictions in the last hour (from the smallest size); and the features with a problem: in each
/// model's latest complete window of the smallest size, more than half missing or defaulted, or any non-finite value; in
/// its latest drift window (feature_drift), drift over its threshold against the active reference or a schema anomaly.
/// </summary>
public sealed class OverviewReader(NpgsqlDataSource dataSource)
{
    public const double RatioThreshold = 0.5;

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
        var problems = (await connection.QueryAsync<(string Predictor, string Model, string Feature)>(new CommandDefinition(
            """
            WITH latest AS (
                SELECT predictor_name, model_id, max(window_start) AS window_start FROM model_window_stats
                WHERE window_seconds = @size AND window_start >= @from AND window_start + make_interval(secs => @size) <= @now
                GROUP BY 1, 2)
            SELECT f.predictor_name, f.model_id, f.feature
            FROM feature_stats f JOIN latest l USING (predictor_name, model_id, window_start)
            WHERE f.window_seconds = @size
              AND (f.missing_ratio > @ratio OR f.default_ratio > @ratio OR f.nonfinite_ratio > 0)
            UNION
            -- Drift over its threshold, or a schema anomaly, in the model's latest drift window (its smallest size).
            SELECT d.predictor_name, d.model_id, d.feature
            FROM feature_drift d
            JOIN (SELECT DISTINCT ON (predictor_name, model_id) predictor_name, model_id, window_seconds, window_start
                  FROM feature_drift WHERE window_start >= @from
                  ORDER BY predictor_name, model_id, window_seconds, window_start DESC) w
              USING (predictor_name, model_id, window_seconds, window_start)
            WHERE d.drifting OR d.schema_anomaly IS NOT NULL
            ORDER BY 1, 2, 3
            """,
            new { size = smallest, from = from.UtcDateTime, now = now.UtcDateTime, ratio = RatioThreshold }, cancellationToken: cancellationToken)))
            .ToLookup(r => (r.Predictor, r.Model), r => r.Feature);

        return [.. models.Select(m =>
        {
            var key = (m.Predictor, m.Model);
            var counts = hourly[key].ToDictionary(r => Utc(r.Hour), r => r.Count);
            var series = Enumerable.Range(0, hours).Select(h => counts.GetValueOrDefault(firstHour.AddHours(h))).ToList();
            var features = problems[key].ToList();
            return new OverviewModel(m.Predictor, m.Model, m.Role, lastHour.GetValueOrDefault(key), series, Utc(m.LastSeen), features.Count, [.. features.Take(50)]);
        })];
    }
}
