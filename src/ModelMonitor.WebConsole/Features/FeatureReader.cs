using System.Text.Json;
using Dapper;
using ModelMonitor.WebConsole.Shared;
using Npgsql;
using static ModelMonitor.Storage.PostgresValues;

namespace ModelMonitor.WebConsole.Features;

/// <summary>
/// What the feature page shows, in four queries: the header, the feature's windows (quantiles, mean and standard deviation,
/// ratios, categories: four charts from one primary-key range scan), its reference profiles, and its drift over the range
/// (the smallest drift window size that fits the point budget).
/// </summary>
public sealed class FeatureReader(NpgsqlDataSource dataSource)
{
    public const string SeriesSql = """
        SELECT window_start, prediction_count, numeric_count, categorical_count, p05, p25, p50, p75, p95, mean, stddev,
               missing_ratio, default_ratio, nonfinite_ratio, categories::text AS categories
        FROM feature_stats
        WHERE window_seconds = @window AND predictor_name = @predictor AND model_id = @model AND feature = @feature
          AND window_start >= @from AND window_start < @to
        ORDER BY window_start
        """;

    public const string ReferencesSql = """
        SELECT r.name, r.kind, r.row_count, r.created_at, f.observed_type, f.numeric_count, f.p05, f.p25, f.p50, f.p75, f.p95,
               f.mean, f.stddev, f.categorical_count, f.categories::text AS categories
        FROM reference_profiles r
        JOIN reference_features f ON f.reference_id = r.id AND f.subject = 'feature' AND f.feature = @feature
        WHERE r.predictor_name = @predictor AND r.model_id = @model
        ORDER BY r.name
        """;

    /// <summary>The chart's window size when drift is computed for it, else the smallest drift size within the budget.</summary>
    public const string DriftSql = $$"""
        WITH size AS (
            SELECT window_seconds FROM drift_windows WHERE window_start >= @from AND window_start < @to
            GROUP BY window_seconds HAVING count(*) <= @budget
            ORDER BY window_seconds = @window DESC, window_seconds LIMIT 1)
        SELECT d.window_seconds, d.window_start, d.reference, d.alert_method, {{Models.ModelReader.AlertDistanceSql}} AS distance,
               d.alert_threshold, coalesce(d.drifting, false) AS drifting, d.schema_anomaly
        FROM feature_drift d JOIN size USING (window_seconds)
        WHERE d.predictor_name = @predictor AND d.model_id = @model AND d.feature = @feature
          AND d.window_start >= @from AND d.window_start < @to
        ORDER BY d.reference, d.window_start
        """;

    public async Task<FeatureView?> ReadAsync(string predictor, string model, string feature, ConsoleRange range, int pointBudget, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var header = await ModelHeader.ReadAsync(connection, predictor, model, range, cancellationToken);
        if (header is null)
        {
            return null;
        }
        (var window, range) = header.WindowFor(range, pointBudget);
        var parameters = new Dictionary<string, object?>
        {
            ["predictor"] = predictor,
            ["model"] = model,
            ["feature"] = feature,
            ["window"] = window,
            ["from"] = range.From.UtcDateTime,
            ["to"] = range.To.UtcDateTime,
        };
        var driftParameters = new Dictionary<string, object?>(parameters) { ["budget"] = pointBudget };
        var referenceParameters = new Dictionary<string, object?> { ["predictor"] = predictor, ["model"] = model, ["feature"] = feature };

        var points = (await connection.QueryAsync<SeriesRow>(new CommandDefinition(SeriesSql, parameters, cancellationToken: cancellationToken)))
            .Select(r => new FeaturePoint(Utc(r.window_start), r.prediction_count, r.numeric_count, r.categorical_count, r.p05, r.p25, r.p50, r.p75, r.p95,
                r.mean, r.stddev, r.missing_ratio, r.default_ratio, r.nonfinite_ratio, Categories(r.categories)))
            .ToList();
        var references = (await connection.QueryAsync<ReferenceRow>(new CommandDefinition(ReferencesSql, referenceParameters, cancellationToken: cancellationToken)))
            .Select(r => new ReferenceProfile(r.name, r.kind, r.row_count, Utc(r.created_at), r.observed_type, r.numeric_count, r.p05, r.p25, r.p50, r.p75, r.p95,
                r.mean, r.stddev, r.categorical_count, Categories(r.categories)))
            .ToList();
        var drift = (await connection.QueryAsync<DriftRow>(new CommandDefinition(DriftSql, driftParameters, cancellationToken: cancellationToken))).ToList();

        var sql = new Dictionary<string, string>
        {
            ["series"] = SqlText.WithLiterals(SeriesSql, parameters),
            ["references"] = SqlText.WithLiterals(ReferencesSql, referenceParameters),
            ["drift"] = SqlText.WithLiterals(DriftSql, driftParameters),
        };
        return new FeatureView(header, feature, range, window, points, references, drift.Count > 0 ? drift[0].window_seconds : null,
            [.. drift.Select(d => new DriftPoint(Utc(d.window_start), d.reference, d.alert_method, d.distance, d.alert_threshold, d.drifting, d.schema_anomaly))], sql);
    }

    private static Dictionary<string, long> Categories(string? json)
    {
        var categories = new Dictionary<string, long>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(json))
        {
            return categories;
        }
        using var document = JsonDocument.Parse(json);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            if (property.Value.ValueKind == JsonValueKind.Number && property.Value.TryGetInt64(out var count))
            {
                categories[property.Name] = count;
            }
        }
        return categories;
    }

#pragma warning disable IDE1006, CA1812, CA1707 // Dapper maps the columns by name
    private sealed record SeriesRow(DateTime window_start, long prediction_count, long numeric_count, long categorical_count, double? p05, double? p25,
        double? p50, double? p75, double? p95, double? mean, double? stddev, double? missing_ratio, double? default_ratio, double? nonfinite_ratio, string? categories);

    private sealed record ReferenceRow(string name, string kind, long row_count, DateTime created_at, string observed_type, long numeric_count,
        double? p05, double? p25, double? p50, double? p75, double? p95, double? mean, double? stddev, long categorical_count, string? categories);

    private sealed record DriftRow(int window_seconds, DateTime window_start, string reference, string? alert_method, double? distance,
        double? alert_threshold, bool drifting, string? schema_anomaly);
#pragma warning restore IDE1006, CA1812, CA1707
}
