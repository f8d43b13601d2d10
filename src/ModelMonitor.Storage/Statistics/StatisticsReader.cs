using Dapper;
using Npgsql;

namespace ModelMonitor.Storage.Statistics;

/// <summary>What a snapshot covers.</summary>
/// <param name="ModelRetention">Models whose last prediction is older are left out.</param>
/// <param name="CompletionDelay">A window is complete this long after its end.</param>
/// <param name="MissingFeatureLookbackWindows">Windows before the latest searched for features that vanished.</param>
public sealed record SnapshotQuery(TimeSpan ModelRetention, TimeSpan CompletionDelay, int MissingFeatureLookbackWindows);

/// <summary>Reads a <see cref="StatisticsSnapshot"/> from the aggregator's tables (schema: Migrations/). One repeatable-read transaction, so the windows and the
/// models are one consistent picture even while the aggregator flushes.</summary>
public sealed class StatisticsReader(NpgsqlDataSource dataSource)
{
    // Distinct window sizes through the (window_seconds, window_start) index: a loose index scan, one
    // index probe per size instead of a scan of the table.
    internal const string WindowSizesSql = """
        WITH RECURSIVE sizes AS (
            (SELECT window_seconds FROM model_window_stats ORDER BY window_seconds LIMIT 1)
            UNION ALL
            SELECT (SELECT m.window_seconds FROM model_window_stats m
                    WHERE m.window_seconds > s.window_seconds ORDER BY m.window_seconds LIMIT 1)
            FROM sizes s WHERE s.window_seconds IS NOT NULL
        )
        SELECT window_seconds FROM sizes WHERE window_seconds IS NOT NULL
        """;

    private const string ModelsSql = """
        SELECT predictor_name AS PredictorName, model_id AS ModelId, first_seen AS FirstSeen, last_seen AS LastSeen
        FROM models m
        WHERE last_seen >= @since
          -- Retired by an operator and silent since: not exported (it serves again: it is back).
          AND NOT EXISTS (SELECT 1 FROM retired_models r
                          WHERE r.predictor_name = m.predictor_name AND r.model_id IN ('', m.model_id) AND r.retired_at >= m.last_seen)
        ORDER BY last_seen DESC, predictor_name, model_id
        """;

    private const string ModelWindowSql = """
        SELECT predictor_name AS PredictorName, model_id AS ModelId, prediction_count AS PredictionCount,
               mean AS Mean, stddev AS Stddev, min AS Min, max AS Max,
               p05 AS P05, p25 AS P25, p50 AS P50, p75 AS P75, p95 AS P95, CASE WHEN @sketches THEN sketch END AS Sketch
        FROM model_window_stats
        WHERE window_seconds = @size AND window_start = @start
        """;

    private const string FeatureWindowSql = """
        SELECT predictor_name AS PredictorName, model_id AS ModelId, feature AS Feature,
               value_count AS ValueCount, default_count AS DefaultCount, nonfinite_count AS NonfiniteCount,
               mean AS Mean, stddev AS Stddev, min AS Min, max AS Max,
               p05 AS P05, p25 AS P25, p50 AS P50, p75 AS P75, p95 AS P95,
               categorical_count AS CategoricalCount, categories::text AS Categories,
               numeric_count AS NumericCount, boolean_count AS BooleanCount, CASE WHEN @sketches THEN sketch END AS Sketch
        FROM feature_window_stats
        WHERE window_seconds = @size AND window_start = @start
        """;

    private const string EarlierFeaturesSql = """
        SELECT DISTINCT predictor_name AS PredictorName, model_id AS ModelId, feature AS Feature
        FROM feature_window_stats
        WHERE window_seconds = @size AND window_start >= @since AND window_start < @start
        """;

    public async Task<StatisticsSnapshot> ReadAsync(DateTimeOffset now, SnapshotQuery options, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);

        var models = (await connection.QueryAsync<ModelRow>(new CommandDefinition(ModelsSql,
            new { since = (now - options.ModelRetention).UtcDateTime }, transaction, cancellationToken: cancellationToken))).AsList();
        var sizes = (await connection.QueryAsync<int>(new CommandDefinition(WindowSizesSql, transaction: transaction, cancellationToken: cancellationToken))).AsList();

        var windows = new List<WindowSnapshot>();
        foreach (var size in sizes.Order())
        {
            var start = LatestCompletedWindowStart(now, size, options.CompletionDelay);
            var parameters = new
            {
                size,
                sketches = false, // read for the windows that need them only: ReadSketchesAsync
                start = start.UtcDateTime,
                since = start.AddSeconds(-(double)size * options.MissingFeatureLookbackWindows).UtcDateTime,
            };
            var modelRows = await connection.QueryAsync<ModelWindowRow>(new CommandDefinition(ModelWindowSql, parameters, transaction, cancellationToken: cancellationToken));
            var featureRows = await connection.QueryAsync<FeatureWindowRow>(new CommandDefinition(FeatureWindowSql, parameters, transaction, cancellationToken: cancellationToken));
            var earlier = options.MissingFeatureLookbackWindows == 0
                ? []
                : (await connection.QueryAsync<(string, string, string)>(new CommandDefinition(EarlierFeaturesSql, parameters, transaction, cancellationToken: cancellationToken)))
                    .Select(f => new ModelFeature(f.Item1, f.Item2, f.Item3)).ToList();
            windows.Add(new WindowSnapshot(size, start, modelRows.AsList(), featureRows.AsList(), earlier));
        }

        await transaction.CommitAsync(cancellationToken);
        return new StatisticsSnapshot(models, windows);
    }

    /// <summary>The window sizes (seconds) that have rows, ascending.</summary>
    public async Task<IReadOnlyList<int>> WindowSizesAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return [.. (await connection.QueryAsync<int>(new CommandDefinition(WindowSizesSql, cancellationToken: cancellationToken))).Order()];
    }

    /// <summary>Every model and feature row of one window, with their sketches (what its drift is measured on).</summary>
    public async Task<(IReadOnlyList<ModelWindowRow> Models, IReadOnlyList<FeatureWindowRow> Features)> ReadWindowAsync(
        int windowSeconds, DateTimeOffset windowStart, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        var parameters = new { size = windowSeconds, start = windowStart.UtcDateTime, sketches = true };
        var models = await connection.QueryAsync<ModelWindowRow>(new CommandDefinition(ModelWindowSql, parameters, transaction, cancellationToken: cancellationToken));
        var features = await connection.QueryAsync<FeatureWindowRow>(new CommandDefinition(FeatureWindowSql, parameters, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        return (models.AsList(), features.AsList());
    }

    /// <summary>
    /// Reads the sketches of the rows of <paramref name="windows"/> (read without them) into the rows, in one transaction:
    /// the exporter reads them only for the windows whose drift it renders at this refresh. Read after the windows' rows:
    /// a late record written in between is in the sketch before its row's counts show it (the next refresh sees the new
    /// counts and renders the window's drift again).
    /// </summary>
    public async Task ReadSketchesAsync(IReadOnlyCollection<WindowSnapshot> windows, CancellationToken cancellationToken)
    {
        if (windows.Count == 0)
        {
            return;
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        foreach (var window in windows)
        {
            var parameters = new { size = window.WindowSeconds, start = window.WindowStart.UtcDateTime };
            var models = window.Models.ToDictionary(m => (m.PredictorName, m.ModelId));
            foreach (var (predictor, model, sketch) in await connection.QueryAsync<(string, string, byte[]?)>(new CommandDefinition(
                "SELECT predictor_name, model_id, sketch FROM model_window_stats WHERE window_seconds = @size AND window_start = @start AND sketch IS NOT NULL",
                parameters, transaction, cancellationToken: cancellationToken)))
            {
                if (models.TryGetValue((predictor, model), out var row))
                {
                    row.Sketch = sketch;
                }
            }
            var features = window.Features.ToDictionary(f => (f.PredictorName, f.ModelId, f.Feature));
            foreach (var (predictor, model, feature, sketch) in await connection.QueryAsync<(string, string, string, byte[]?)>(new CommandDefinition(
                "SELECT predictor_name, model_id, feature, sketch FROM feature_window_stats WHERE window_seconds = @size AND window_start = @start AND sketch IS NOT NULL",
                parameters, transaction, cancellationToken: cancellationToken)))
            {
                if (features.TryGetValue((predictor, model, feature), out var row))
                {
                    row.Sketch = sketch;
                }
            }
        }
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Start of the most recent window of <paramref name="size"/> seconds (epoch-aligned)
    /// that ended at least <paramref name="completionDelay"/> ago.</summary>
    public static DateTimeOffset LatestCompletedWindowStart(DateTimeOffset now, int size, TimeSpan completionDelay)
    {
        var reference = (now - completionDelay).ToUnixTimeSeconds();
        var currentStart = reference - (((reference % size) + size) % size);
        return DateTimeOffset.FromUnixTimeSeconds(currentStart - size);
    }
}
