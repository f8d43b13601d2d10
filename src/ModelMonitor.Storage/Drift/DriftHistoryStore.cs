using Dapper;
using Npgsql;
using NpgsqlTypes;

namespace ModelMonitor.Storage.Drift;

/// <summary>A row of feature_drift: one feature of one window against one reference (null: does not apply).</summary>
public sealed record FeatureDriftRow(
    string PredictorName,
    string ModelId,
    string Feature,
    string Reference,
    double? Psi,
    double? JensenShannon,
    double? Ks,
    double? Wasserstein,
    double? Linf,
    double? OutOfRangeRatio,
    double? UnseenCategoryRatio,
    string? SchemaAnomaly,
    string? AlertMethod,
    double? AlertThreshold,
    bool? Drifting);

/// <summary>A row of prediction_drift: a model's prediction_result in one window against one reference.</summary>
public sealed record PredictionDriftRow(
    string PredictorName,
    string ModelId,
    string Reference,
    double? Psi,
    double? JensenShannon,
    double? Ks,
    double? Wasserstein,
    double? OutOfRangeRatio,
    string? AlertMethod,
    double? AlertThreshold,
    bool? Drifting);

/// <summary>
/// The drift history tables (schema V5): each completed window's drift rows, appended with binary COPY in one transaction
/// with the window's entry in drift_windows (the predictions it held), which tells when it must be stored again.
/// </summary>
public sealed class DriftHistoryStore(NpgsqlDataSource dataSource)
{
    /// <summary>
    /// The windows of one size starting in [<paramref name="first"/>, <paramref name="latest"/>] with rows whose drift is not
    /// stored, or was stored when they held another number of predictions (records arrived late), ascending.
    /// </summary>
    public async Task<IReadOnlyList<DateTimeOffset>> DueWindowsAsync(int windowSeconds, DateTimeOffset first, DateTimeOffset latest, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var starts = await connection.QueryAsync<DateTime>(new CommandDefinition(
            """
            SELECT w.window_start
            FROM (SELECT window_start, sum(prediction_count) AS predictions
                  FROM model_window_stats
                  WHERE window_seconds = @windowSeconds AND window_start >= @first AND window_start <= @latest
                  GROUP BY window_start) w
            LEFT JOIN drift_windows d ON d.window_seconds = @windowSeconds AND d.window_start = w.window_start
            WHERE w.predictions > 0 AND d.prediction_count IS DISTINCT FROM w.predictions
            ORDER BY w.window_start
            """,
            new { windowSeconds, first = first.UtcDateTime, latest = latest.UtcDateTime },
            cancellationToken: cancellationToken));
        return [.. starts.Select(s => new DateTimeOffset(DateTime.SpecifyKind(s, DateTimeKind.Utc)))];
    }

    /// <summary>
    /// Stores the drift of the window (<paramref name="windowSeconds"/>, <paramref name="windowStart"/>), which held
    /// <paramref name="predictionCount"/> predictions when it was read, replacing any rows it had, in one transaction.
    /// </summary>
    public async Task WriteAsync(int windowSeconds, DateTimeOffset windowStart, long predictionCount, IReadOnlyList<FeatureDriftRow> features,
        IReadOnlyList<PredictionDriftRow> predictions, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(predictions);
        var start = windowStart.UtcDateTime;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        foreach (var table in new[] { "feature_drift", "prediction_drift" })
        {
            await connection.ExecuteAsync(new CommandDefinition(
                $"DELETE FROM {table} WHERE window_seconds = @windowSeconds AND window_start = @start",
                new { windowSeconds, start }, transaction, cancellationToken: cancellationToken));
        }

        await using (var copy = await connection.BeginBinaryImportAsync(
            """
            COPY feature_drift (window_seconds, window_start, predictor_name, model_id, feature, reference, psi, jensen_shannon, ks,
                wasserstein, linf, out_of_range_ratio, unseen_category_ratio, schema_anomaly, alert_method, alert_threshold, drifting)
            FROM STDIN (FORMAT BINARY)
            """,
            cancellationToken))
        {
            foreach (var row in features)
            {
                await StartRowAsync(copy, windowSeconds, start, row.PredictorName, row.ModelId, cancellationToken);
                await copy.WriteAsync(row.Feature, NpgsqlDbType.Text, cancellationToken);
                await copy.WriteAsync(row.Reference, NpgsqlDbType.Text, cancellationToken);
                foreach (var value in new[] { row.Psi, row.JensenShannon, row.Ks, row.Wasserstein, row.Linf, row.OutOfRangeRatio, row.UnseenCategoryRatio })
                {
                    await WriteAsync(copy, value, cancellationToken);
                }

                await WriteAsync(copy, row.SchemaAnomaly, cancellationToken);
                await WriteAsync(copy, row.AlertMethod, cancellationToken);
                await WriteAsync(copy, row.AlertThreshold, cancellationToken);
                await WriteAsync(copy, row.Drifting, cancellationToken);
            }

            await copy.CompleteAsync(cancellationToken);
        }

        await using (var copy = await connection.BeginBinaryImportAsync(
            """
            COPY prediction_drift (window_seconds, window_start, predictor_name, model_id, reference, psi, jensen_shannon, ks,
                wasserstein, out_of_range_ratio, alert_method, alert_threshold, drifting)
            FROM STDIN (FORMAT BINARY)
            """,
            cancellationToken))
        {
            foreach (var row in predictions)
            {
                await StartRowAsync(copy, windowSeconds, start, row.PredictorName, row.ModelId, cancellationToken);
                await copy.WriteAsync(row.Reference, NpgsqlDbType.Text, cancellationToken);
                foreach (var value in new[] { row.Psi, row.JensenShannon, row.Ks, row.Wasserstein, row.OutOfRangeRatio })
                {
                    await WriteAsync(copy, value, cancellationToken);
                }

                await WriteAsync(copy, row.AlertMethod, cancellationToken);
                await WriteAsync(copy, row.AlertThreshold, cancellationToken);
                await WriteAsync(copy, row.Drifting, cancellationToken);
            }

            await copy.CompleteAsync(cancellationToken);
        }

        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO drift_windows (window_seconds, window_start, prediction_count) VALUES (@windowSeconds, @start, @predictionCount)
            ON CONFLICT (window_seconds, window_start) DO UPDATE SET prediction_count = excluded.prediction_count, computed_at = now()
            """,
            new { windowSeconds, start, predictionCount }, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>A row of either table, begun with the columns they share: window_seconds, window_start, predictor_name, model_id.</summary>
    private static async Task StartRowAsync(NpgsqlBinaryImporter copy, int windowSeconds, DateTime start, string predictorName, string modelId,
        CancellationToken cancellationToken)
    {
        await copy.StartRowAsync(cancellationToken);
        await copy.WriteAsync(windowSeconds, NpgsqlDbType.Integer, cancellationToken);
        await copy.WriteAsync(start, NpgsqlDbType.TimestampTz, cancellationToken);
        await copy.WriteAsync(predictorName, NpgsqlDbType.Text, cancellationToken);
        await copy.WriteAsync(modelId, NpgsqlDbType.Text, cancellationToken);
    }

    private static Task WriteAsync(NpgsqlBinaryImporter copy, double? value, CancellationToken cancellationToken) =>
        value is { } v ? copy.WriteAsync(v, NpgsqlDbType.Double, cancellationToken) : copy.WriteNullAsync(cancellationToken);

    private static Task WriteAsync(NpgsqlBinaryImporter copy, string? value, CancellationToken cancellationToken) =>
        value is not null ? copy.WriteAsync(value, NpgsqlDbType.Text, cancellationToken) : copy.WriteNullAsync(cancellationToken);

    private static Task WriteAsync(NpgsqlBinaryImporter copy, bool? value, CancellationToken cancellationToken) =>
        value is { } v ? copy.WriteAsync(v, NpgsqlDbType.Boolean, cancellationToken) : copy.WriteNullAsync(cancellationToken);
}
