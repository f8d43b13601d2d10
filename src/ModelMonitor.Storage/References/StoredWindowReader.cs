using Dapper;
using ModelMonitor.Core.References;
using ModelMonitor.Storage.Statistics;
using Npgsql;

namespace ModelMonitor.Storage.References;

/// <summary>
/// Reads a model's stored windows as reference profiles, one window at a time (what production and pinned references are
/// merged from, and the windows their thresholds are derived from): memory is one window's rows, whatever the period.
/// </summary>
public sealed class StoredWindowReader(NpgsqlDataSource dataSource)
{
    /// <summary>The window sizes (seconds) that have rows, ascending.</summary>
    public async Task<IReadOnlyList<int>> WindowSizesAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return [.. await connection.QueryAsync<int>(new CommandDefinition(StatisticsReader.WindowSizesSql, cancellationToken: cancellationToken))];
    }

    /// <summary>Models seen since <paramref name="since"/>, with when they were first seen.</summary>
    public async Task<IReadOnlyList<(string PredictorName, string ModelId, DateTimeOffset FirstSeen)>> ModelsAsync(DateTimeOffset since, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(string, string, DateTime)>(new CommandDefinition(
            "SELECT predictor_name, model_id, first_seen FROM models WHERE last_seen >= @since ORDER BY predictor_name, model_id",
            new { since = since.UtcDateTime }, cancellationToken: cancellationToken));
        return [.. rows.Select(r => (r.Item1, r.Item2, new DateTimeOffset(DateTime.SpecifyKind(r.Item3, DateTimeKind.Utc))))];
    }

    /// <summary>The starts of the model's stored windows of one size in [<paramref name="from"/>, <paramref name="to"/>), ascending.</summary>
    public async Task<IReadOnlyList<DateTimeOffset>> WindowStartsAsync(string predictorName, string modelId, int windowSeconds,
        DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var starts = await connection.QueryAsync<DateTime>(new CommandDefinition(
            """
            SELECT window_start FROM model_window_stats
            WHERE window_seconds = @size AND predictor_name = @p AND model_id = @m AND window_start >= @from AND window_start < @to
            ORDER BY window_start
            """,
            new { size = windowSeconds, p = predictorName, m = modelId, from = from.UtcDateTime, to = to.UtcDateTime },
            cancellationToken: cancellationToken));
        return [.. starts.Select(s => new DateTimeOffset(DateTime.SpecifyKind(s, DateTimeKind.Utc)))];
    }

    /// <summary>
    /// Calls <paramref name="window"/> with each of the model's windows of one size whose start is in
    /// <paramref name="starts"/>, in ascending order, as a profile (prediction_result from model_window_stats, features from
    /// feature_window_stats), a new one per window.
    /// </summary>
    public async Task ForEachWindowAsync(string predictorName, string modelId, int windowSeconds, IReadOnlyList<DateTimeOffset> starts,
        int categoryCapacity, Action<DateTimeOffset, ReferenceProfile> window, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(starts);
        ArgumentNullException.ThrowIfNull(window);
        if (starts.Count == 0)
        {
            return;
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        var parameters = new { size = windowSeconds, p = predictorName, m = modelId, starts = starts.Select(s => s.UtcDateTime).ToArray() };
        var predictions = new Dictionary<DateTime, (long Count, long NonFinite, long Numeric, double Mean, double M2, double Min, double Max, byte[]? Sketch, int Scale)>();
        foreach (var row in await connection.QueryAsync<(DateTime, long, long, long, double?, double, double?, double?, byte[]?, int)>(new CommandDefinition(
                     """
                     SELECT window_start, prediction_count, nonfinite_count, numeric_count, mean, m2, min, max, sketch, m2_scale
                     FROM model_window_stats
                     WHERE window_seconds = @size AND predictor_name = @p AND model_id = @m AND window_start = ANY(@starts)
                     """,
                     parameters, transaction, cancellationToken: cancellationToken)))
        {
            predictions[row.Item1] = (row.Item2, row.Item3, row.Item4, row.Item5 ?? 0, row.Item6, row.Item7 ?? 0, row.Item8 ?? 0, row.Item9, row.Item10);
        }

        await using var command = new NpgsqlCommand(
            $"""
            SELECT t.window_start, t.feature, {StatisticsStore.FeatureStatisticsColumns}
            FROM feature_window_stats t
            WHERE t.window_seconds = $1 AND t.predictor_name = $2 AND t.model_id = $3 AND t.window_start = ANY($4)
            ORDER BY t.window_start
            """,
            connection,
            transaction);
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = windowSeconds });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = predictorName });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = modelId });
        command.Parameters.Add(new NpgsqlParameter<DateTime[]> { TypedValue = parameters.starts });
        var sketch = new StatisticsStore.SketchBuffer();
        ReferenceProfile? profile = null;
        DateTime? current = null;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var start = reader.GetDateTime(0);
                if (start != current)
                {
                    Emit();
                    current = start;
                    profile = Begin(start);
                }

                StatisticsStore.LoadFeature(reader, first: 2, profile!.Feature(reader.GetString(1)), sketch);
            }
        }

        Emit();
        // Windows with predictions but no feature rows (a model that sends no features).
        foreach (var start in predictions.Keys.Order())
        {
            current = start;
            profile = Begin(start);
            Emit();
        }

        await transaction.CommitAsync(cancellationToken);

        ReferenceProfile Begin(DateTime start)
        {
            var next = new ReferenceProfile(categoryCapacity);
            if (predictions.Remove(start, out var p))
            {
                next.AddRows(p.Count);
                next.Prediction.LoadCounts(p.Count, p.NonFinite);
                if (p.Numeric > 0 && p.Sketch is { } bytes)
                {
                    next.Prediction.Result.Load(p.Numeric, p.Mean, p.M2, p.Min, p.Max, p.Scale, bytes);
                }
            }

            return next;
        }

        void Emit()
        {
            if (profile is not null && current is { } start)
            {
                window(new DateTimeOffset(DateTime.SpecifyKind(start, DateTimeKind.Utc)), profile);
                profile = null;
            }
        }
    }
}
