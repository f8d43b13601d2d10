using Dapper;
using ModelMonitor.Core.Contracts;
using Npgsql;

namespace ModelMonitor.Reliability.Tests;

/// <summary>The counts the aggregator stored, and the same counts computed from the records themselves.</summary>
internal static class StoredCounts
{
    /// <summary>Sum of prediction_count per window size (300, 3600); empty before the schema exists.</summary>
    public static async Task<Dictionary<int, long>> PredictionCountsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        if (!await connection.ExecuteScalarAsync<bool>("SELECT to_regclass('model_window_stats') IS NOT NULL"))
        {
            return [];
        }

        var rows = await connection.QueryAsync<(int WindowSeconds, long Count)>(
            "SELECT window_seconds, sum(prediction_count)::bigint FROM model_window_stats GROUP BY window_seconds");
        return rows.ToDictionary(r => r.WindowSeconds, r => r.Count);
    }

    /// <summary>Sum over the 1h windows of prediction_count, 0 before anything is stored.</summary>
    public static async Task<long> HourlyPredictionsAsync(string connectionString) =>
        (await PredictionCountsAsync(connectionString)).GetValueOrDefault(3600);

    /// <summary>Per (predictor, model, feature) over the 1h windows: "value_count/null_count/default_count".</summary>
    public static async Task<SortedDictionary<string, string>> FeatureCountsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        var rows = await connection.QueryAsync<(string Predictor, string Model, string Feature, long Values, long Nulls, long Defaults)>("""
            SELECT predictor_name, model_id, feature,
                   sum(value_count)::bigint, sum(null_count)::bigint, sum(default_count)::bigint
            FROM feature_window_stats
            WHERE window_seconds = 3600
            GROUP BY predictor_name, model_id, feature
            """);
        return new SortedDictionary<string, string>(
            rows.ToDictionary(r => $"{r.Predictor}/{r.Model}/{r.Feature}", r => $"{r.Values}/{r.Nulls}/{r.Defaults}"), StringComparer.Ordinal);
    }

    /// <summary>The same per-feature counts, computed from the records (a value, a JSON null, named as defaulted).</summary>
    public static SortedDictionary<string, string> ExpectedFeatureCounts(IEnumerable<PredictionLog> logs)
    {
        var counts = new Dictionary<string, (long Values, long Nulls, long Defaults)>(StringComparer.Ordinal);
        foreach (var log in logs)
        {
            foreach (var (name, value) in log.Features)
            {
                var key = $"{log.PredictorName}/{log.ModelId}/{name}";
                var c = counts.GetValueOrDefault(key);
                counts[key] = value.IsNull ? c with { Nulls = c.Nulls + 1 } : c with { Values = c.Values + 1 };
            }

            foreach (var name in log.DefaultValuesUsed.Distinct(StringComparer.Ordinal))
            {
                var key = $"{log.PredictorName}/{log.ModelId}/{name}";
                var c = counts.GetValueOrDefault(key);
                counts[key] = c with { Defaults = c.Defaults + 1 };
            }
        }

        return new SortedDictionary<string, string>(
            counts.ToDictionary(c => c.Key, c => $"{c.Value.Values}/{c.Value.Nulls}/{c.Value.Defaults}"), StringComparer.Ordinal);
    }

    /// <summary>The first differences between two count tables, for a readable failure.</summary>
    public static string Difference(IReadOnlyDictionary<string, string> expected, IReadOnlyDictionary<string, string> actual) =>
        string.Join("; ", expected.Keys.Union(actual.Keys)
            .Where(k => expected.GetValueOrDefault(k) != actual.GetValueOrDefault(k))
            .Take(10)
            .Select(k => $"{k}: expected {expected.GetValueOrDefault(k) ?? "none"}, stored {actual.GetValueOrDefault(k) ?? "none"}"));
}
