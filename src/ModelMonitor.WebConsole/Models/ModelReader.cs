using Dapper;
using ModelMonitor.WebConsole.Shared;
using Npgsql;
using static ModelMonitor.Storage.PostgresValues;

namespace ModelMonitor.WebConsole.Models;

/// <summary>
/// What the model page shows, in six queries whatever the number of features (no query per feature or per chart point):
/// the header, the model's windows (result quantiles and traffic), its evaluation, its shadow comparisons, the feature
/// table's latest window with the latest drift, and the features' sparklines. Each is bounded by the range and by the
/// window size chosen for the point budget.
/// </summary>
public sealed class ModelReader(NpgsqlDataSource dataSource, LatestWindow latestWindow)
{
    /// <summary>The most points a feature's sparkline has.</summary>
    public const int SparkBudget = 48;

    /// <summary>The distance of the method the alerts use (feature_drift.alert_method), from a row aliased d.</summary>
    public const string AlertDistanceSql = """
        CASE d.alert_method WHEN 'psi' THEN d.psi WHEN 'jensen_shannon' THEN d.jensen_shannon WHEN 'ks' THEN d.ks
             WHEN 'wasserstein' THEN d.wasserstein WHEN 'linf' THEN d.linf END
        """;

    public const string ResultSql = """
        SELECT window_start, prediction_count, p05, p25, p50, p75, p95, mean
        FROM model_window_stats
        WHERE window_seconds = @window AND predictor_name = @predictor AND model_id = @model
          AND window_start >= @from AND window_start < @to
        ORDER BY window_start
        """;

    public const string EvaluationSql = """
        SELECT window_start, task, prediction_count, labelled_count, label_coverage, mae, rmse, accuracy, roc_auc, log_loss
        FROM evaluation_window_stats
        WHERE window_seconds = @window AND predictor_name = @predictor AND model_id = @model
          AND window_start >= @from AND window_start < @to
        ORDER BY window_start
        """;

    /// <summary>Rows store b − a with model_a &lt; model_b: turned into this model − the other.</summary>
    public const string ShadowSql = """
        SELECT window_start, CASE WHEN model_a = @model THEN model_b ELSE model_a END AS other_model, pairs,
               CASE WHEN model_a = @model THEN -diff_mean ELSE diff_mean END AS diff_mean, abs_diff_mean, abs_diff_p95
        FROM shadow_window_stats
        WHERE window_seconds = @window AND predictor_name = @predictor AND (model_a = @model OR model_b = @model)
          AND window_start >= @from AND window_start < @to
        ORDER BY other_model, window_start
        """;

    /// <summary>The latest complete window's ratios (the latest window at all when none is complete yet), and each
    /// feature's drift in the model's latest drift window, against the reference where it is worst.</summary>
    public const string FeaturesSql = $$"""
        WITH latest AS (
            SELECT window_start FROM model_window_stats
            WHERE window_seconds = @window AND predictor_name = @predictor AND model_id = @model
              AND window_start >= @from AND window_start < @to
            ORDER BY window_start + make_interval(secs => @window) <= @to DESC, window_start DESC LIMIT 1),
        drift_window AS (
            SELECT w.window_seconds, w.window_start FROM drift_windows w
            WHERE w.window_start >= @from AND w.window_start < @to
              AND EXISTS (SELECT 1 FROM feature_drift d WHERE d.window_seconds = w.window_seconds AND d.predictor_name = @predictor
                          AND d.model_id = @model AND d.window_start = w.window_start)
            ORDER BY w.window_seconds, w.window_start DESC LIMIT 1),
        drift AS (
            SELECT DISTINCT ON (d.feature) d.feature, d.reference, d.alert_method, {{AlertDistanceSql}} AS distance,
                   d.alert_threshold, coalesce(d.drifting, false) AS drifting, d.schema_anomaly
            FROM feature_drift d JOIN drift_window w USING (window_seconds, window_start)
            WHERE d.predictor_name = @predictor AND d.model_id = @model
            ORDER BY d.feature, d.schema_anomaly IS NOT NULL DESC, coalesce(d.drifting, false) DESC,
                     {{AlertDistanceSql}} / NULLIF(d.alert_threshold, 0) DESC NULLS LAST),
        stats AS (
            SELECT f.feature, f.window_start, f.numeric_count + f.nonfinite_count > 0 AS numeric,
                   f.missing_ratio, f.default_ratio, f.nonfinite_ratio
            FROM feature_stats f JOIN latest l USING (window_start)
            WHERE f.window_seconds = @window AND f.predictor_name = @predictor AND f.model_id = @model AND f.feature = ANY (@features))
        SELECT coalesce(s.feature, d.feature) AS feature, s.window_start, s.numeric, s.missing_ratio, s.default_ratio, s.nonfinite_ratio,
               d.reference, d.alert_method, d.distance, d.alert_threshold, d.drifting, d.schema_anomaly
        FROM stats s FULL JOIN drift d ON d.feature = s.feature
        """;

    /// <summary>Per feature and window of the sparkline's size: the median, or the most frequent category's share.</summary>
    public const string SparkSql = """
        SELECT feature, window_start,
               CASE WHEN numeric_count > 0 THEN p50
                    ELSE (SELECT max(value::bigint) FROM jsonb_each_text(categories) WHERE key <> '__other__')::double precision
                         / NULLIF(categorical_count, 0) END AS value
        FROM feature_window_stats
        WHERE window_seconds = @window AND predictor_name = @predictor AND model_id = @model AND feature = ANY (@features)
          AND window_start >= @from AND window_start < @to
        ORDER BY feature, window_start
        """;

    public async Task<ModelView?> ReadAsync(string predictor, string model, ConsoleRange range, int pointBudget, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var header = await ModelHeader.ReadAsync(connection, predictor, model, range, cancellationToken);
        if (header is null)
        {
            return null;
        }
        (var window, range) = header.WindowFor(range, pointBudget);
        var features = latestWindow.Current?.Models.GetValueOrDefault((predictor, model))?.Features.ToArray() ?? [];
        var spark = (range with { RequestedWindow = null }).ChooseWindow(header.Windows, SparkBudget);
        Dictionary<string, object?> Parameters(int size) => new()
        {
            ["predictor"] = predictor,
            ["model"] = model,
            ["window"] = size,
            ["from"] = range.From.UtcDateTime,
            ["to"] = range.To.UtcDateTime,
            // The model's features (those of the exporter's latest complete window and its lookback): each is then a
            // primary-key lookup, where without them the key's order (feature before window_start) would make Postgres
            // read every window the model has kept of every feature.
            ["features"] = features,
        };
        var parameters = Parameters(window);
        var sparkParameters = Parameters(spark);

        var points = (await connection.QueryAsync<(DateTime Start, long Count, double? P05, double? P25, double? P50, double? P75, double? P95, double? Mean)>(
                new CommandDefinition(ResultSql, parameters, cancellationToken: cancellationToken)))
            .Select(r => new ModelPoint(Utc(r.Start), r.Count, r.P05, r.P25, r.P50, r.P75, r.P95, r.Mean)).ToList();
        var evaluation = (await connection.QueryAsync<(DateTime Start, string Task, long Predictions, long Labelled, double? Coverage, double? Mae, double? Rmse, double? Accuracy, double? RocAuc, double? LogLoss)>(
                new CommandDefinition(EvaluationSql, parameters, cancellationToken: cancellationToken)))
            .Select(r => new EvaluationPoint(Utc(r.Start), r.Task, r.Predictions, r.Labelled, r.Coverage, r.Mae, r.Rmse, r.Accuracy, r.RocAuc, r.LogLoss)).ToList();
        var shadows = (await connection.QueryAsync<(DateTime Start, string Other, long Pairs, double? DiffMean, double? AbsDiffMean, double? AbsDiffP95)>(
                new CommandDefinition(ShadowSql, parameters, cancellationToken: cancellationToken)))
            .GroupBy(r => r.Other, StringComparer.Ordinal)
            .Select(g => new ShadowComparison(g.Key, [.. g.Select(r => new ShadowPoint(Utc(r.Start), r.Pairs, r.DiffMean, r.AbsDiffMean, r.AbsDiffP95))]))
            .ToList();
        var featureRows = (await connection.QueryAsync<(string Feature, DateTime? Start, bool? Numeric, double? Missing, double? Default, double? Nonfinite,
                string? Reference, string? Method, double? Distance, double? Threshold, bool? Drifting, string? Anomaly)>(
                new CommandDefinition(FeaturesSql, parameters, cancellationToken: cancellationToken))).ToList();
        var sparkRows = (await connection.QueryAsync<(string Feature, DateTime Start, double? Value)>(
                new CommandDefinition(SparkSql, sparkParameters, cancellationToken: cancellationToken))).ToList();

        var sparkTimes = sparkRows.Select(r => Utc(r.Start)).Distinct().Order().ToList();
        var sparkIndex = sparkTimes.Select((t, i) => (t, i)).ToDictionary(x => x.t, x => x.i);
        var sparks = sparkRows.GroupBy(r => r.Feature, StringComparer.Ordinal).ToDictionary(g => g.Key, g =>
        {
            var values = new double?[sparkTimes.Count];
            foreach (var row in g)
            {
                values[sparkIndex[Utc(row.Start)]] = row.Value is { } v && double.IsFinite(v) ? v : null;
            }
            return (IReadOnlyList<double?>)values;
        }, StringComparer.Ordinal);
        var featureWindow = featureRows.Select(f => f.Start).FirstOrDefault(s => s is not null);
        var rows = featureRows.Select(f => new FeatureRow(f.Feature, f.Numeric ?? true,
                // A feature seen in the range but not in the latest window was missing from every prediction of it.
                f.Start is null && featureWindow is not null ? 1 : f.Missing, f.Default, f.Nonfinite,
                f.Reference is null ? null : new FeatureDrift(f.Reference, f.Method, f.Distance, f.Threshold, f.Drifting ?? false, f.Anomaly),
                sparks.GetValueOrDefault(f.Feature) ?? []))
            .ToList();
        var known = rows.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        rows.AddRange(sparks.Keys.Where(name => !known.Contains(name))
            .Select(name => new FeatureRow(name, true, featureWindow is not null ? 1 : null, null, null, null, sparks[name])));

        var sql = new Dictionary<string, string>
        {
            ["result"] = SqlText.WithLiterals(ResultSql, parameters),
            ["evaluation"] = SqlText.WithLiterals(EvaluationSql, parameters),
            ["shadow"] = SqlText.WithLiterals(ShadowSql, parameters),
            ["features"] = SqlText.WithLiterals(FeaturesSql, parameters),
            ["spark"] = SqlText.WithLiterals(SparkSql, sparkParameters),
        };
        return new ModelView(header, range, window, points, evaluation, shadows,
            featureWindow is { } fw ? Utc(fw) : null, spark, sparkTimes, rows, sql);
    }
}
