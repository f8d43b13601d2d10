using Dapper;
using ModelMonitor.Storage.Drift;
using ModelMonitor.Storage.Statistics;
using ModelMonitor.Testing.Postgres;

namespace ModelMonitor.References.Tests;

/// <summary>The drift history tables on the real Postgres: which windows are due, replacing a window's rows, retention.</summary>
public sealed class DriftHistoryStoreTests
{
    private static async Task AddWindowAsync(PostgresDatabaseFixture database, DateTimeOffset start, string model, long predictions)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync();
        await connection.ExecuteAsync(
            """
            INSERT INTO model_window_stats (window_seconds, window_start, predictor_name, model_id, prediction_count, nonfinite_count, numeric_count)
            VALUES (300, @start, 'eta', @model, @predictions, 0, 0)
            ON CONFLICT (window_seconds, predictor_name, model_id, window_start) DO UPDATE SET prediction_count = excluded.prediction_count
            """,
            new { start = start.UtcDateTime, model, predictions });
    }

    private static FeatureDriftRow Row(string feature, double js) =>
        new("eta", "eta_v1", feature, "training", 0.1, js, 0.2, 0.3, null, 0.01, null, null, "jensen_shannon", 0.15, js > 0.15);

    [Fact]
    public async Task A_window_is_due_until_stored_and_again_when_late_records_change_it_and_retention_takes_its_rows()
    {
        await using var database = await PostgresDatabaseFixture.CreateMigratedAsync("drift-history");
        var history = new DriftHistoryStore(database.DataSource);
        var now = DateTimeOffset.UtcNow;
        var latest = StatisticsReader.LatestCompletedWindowStart(now, 300, TimeSpan.Zero);
        var earlier = latest.AddMinutes(-5);
        var old = latest.AddDays(-10);
        await AddWindowAsync(database, earlier, "eta_v1", 40);
        await AddWindowAsync(database, earlier, "eta_v2", 2);
        await AddWindowAsync(database, latest, "eta_v1", 30);
        await AddWindowAsync(database, old, "eta_v1", 10);

        // Within [first, latest]: both recent windows, oldest first; the old one is out of range.
        Assert.Equal([earlier, latest], await history.DueWindowsAsync(300, latest.AddMinutes(-55), latest, CancellationToken.None));

        await history.WriteAsync(300, earlier, 42, [Row("distance_km", 0.4), Row("market", 0.05)], [], CancellationToken.None);
        await history.WriteAsync(300, old, 10, [Row("distance_km", 0.2)], [new PredictionDriftRow("eta", "eta_v1", "training", 0.1, 0.2, 0.3, 0.4, 0, "jensen_shannon", 0.15, true)], CancellationToken.None);
        Assert.Equal([latest], await history.DueWindowsAsync(300, latest.AddMinutes(-55), latest, CancellationToken.None));

        // A late record into the stored window: due again, and storing it again replaces its rows.
        await AddWindowAsync(database, earlier, "eta_v2", 3);
        Assert.Equal([earlier, latest], await history.DueWindowsAsync(300, latest.AddMinutes(-55), latest, CancellationToken.None));
        await history.WriteAsync(300, earlier, 43, [Row("distance_km", 0.1)], [], CancellationToken.None);
        await using var connection = await database.DataSource.OpenConnectionAsync();
        var stored = (await connection.QueryAsync<(string Feature, double Js, bool Drifting)>(
            "SELECT feature, jensen_shannon, drifting FROM feature_drift WHERE window_start = @start", new { start = earlier.UtcDateTime })).ToList();
        Assert.Equal([("distance_km", 0.1, false)], stored);
        Assert.Equal(43, await connection.ExecuteScalarAsync<long>("SELECT prediction_count FROM drift_windows WHERE window_start = @start", new { start = earlier.UtcDateTime }));

        // Retention: the history of a window goes with it (the aggregator's RetentionWorker deletes these tables too).
        var store = new StatisticsStore(database.DataSource, 50);
        foreach (var table in new[] { "feature_drift", "prediction_drift", "drift_windows" })
        {
            Assert.Equal(1, await store.DeleteExpiredAsync(table, 300, now.AddDays(-7), 100, CancellationToken.None));
        }

        Assert.Equal(1, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM feature_drift"));
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM prediction_drift"));
    }
}
