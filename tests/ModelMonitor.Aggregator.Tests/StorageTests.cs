using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using ModelMonitor.Core.Aggregation;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Windows;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Statistics;
using ModelMonitor.Testing.Postgres;
using Npgsql;

namespace ModelMonitor.Aggregator.Tests;

/// <summary>The migrator and the flush transaction against the real private Postgres.</summary>
public sealed class StorageTests
{
    private static readonly IReadOnlyList<WindowSize> Windows = WindowSize.ParseList("5m,1h");

    private static Task<PostgresDatabaseFixture> MigratedDatabaseAsync(string name) => PostgresDatabaseFixture.CreateMigratedAsync(name);

    /// <summary>What the aggregator flushes for <paramref name="logs"/> read from one partition: a delta per window size,
    /// each with the offsets it expects stored (the same for every size here).</summary>
    private static List<WindowFlush> Flushes(IEnumerable<PredictionLog> logs, int partition, long firstOffset, IReadOnlyDictionary<int, long> expected, bool reuse = false)
    {
        var flushes = new List<WindowFlush>();
        foreach (var window in Windows)
        {
            var delta = new AggregationDelta([window], 50);
            var offset = firstOffset;
            foreach (var log in logs)
            {
                delta.Add(log);
                delta.Advance(partition, ++offset);
            }

            flushes.Add(new WindowFlush(window.Seconds, delta, expected, ReuseWrittenRows: reuse && window == Windows[0]));
        }

        return flushes;
    }

    [Fact]
    public async Task Migrations_apply_once_even_when_services_start_at_the_same_time()
    {
        await using var database = await PostgresDatabaseFixture.CreateAsync("migrate");
        var migrators = Enumerable.Range(0, 3).Select(_ => new SchemaMigrator(database.DataSource, NullLogger<SchemaMigrator>.Instance)).ToList();
        var applied = await Task.WhenAll(migrators.Select(m => m.MigrateAsync(CancellationToken.None)));
        Assert.Equal(SchemaMigrator.Versions.Count, applied.Sum());
        Assert.Equal(0, await database.MigrateAsync());

        await using var connection = await database.DataSource.OpenConnectionAsync();
        Assert.Equal(
            SchemaMigrator.Versions.Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            await connection.QueryAsync<string>($"SELECT version FROM {SchemaMigrator.MetadataTable} WHERE type = 0 AND success ORDER BY id"));
        Assert.Equal([1, 2], SchemaMigrator.Versions.Take(2));
    }

    [Fact]
    public async Task A_database_made_by_the_earlier_migrator_continues_under_Evolve_without_loss()
    {
        // What the hand-written migrator of 2026-11/12 left: its own version table and the scripts V1..V2 applied.
        await using var database = await PostgresDatabaseFixture.CreateAsync("legacy");
        await using (var connection = await database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
            foreach (var (version, script) in new[] { (1, "V1__initial.sql"), (2, "V2__scaled_m2_type_mismatch_retired_models.sql") })
            {
                await using var stream = typeof(SchemaMigrator).Assembly.GetManifestResourceStream("ModelMonitor.Storage.Migrations." + script)!;
                await connection.ExecuteAsync(await new StreamReader(stream).ReadToEndAsync());
                await connection.ExecuteAsync("INSERT INTO schema_migrations (version, name) VALUES (@version, @script)", new { version, script });
            }
        }
        // What that version's aggregator had stored: one offset row per partition (for every window size) and a window row.
        await using (var connection = await database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) VALUES ('g', 't', 0, 200)");
            await connection.ExecuteAsync(
                """
                INSERT INTO model_window_stats (window_seconds, window_start, predictor_name, model_id, prediction_count, nonfinite_count, numeric_count)
                VALUES (3600, '2026-12-01T10:00:00Z', 'eta', 'eta_v1', 200, 0, 0)
                """);
        }
        var before = await StoredRowsAsync(database);

        Assert.Equal(7, await database.MigrateAsync()); // V1 and V2 not re-applied over the existing tables, V3 to V9 applied
        Assert.Equal(0, await database.MigrateAsync()); // and the start version is set once, not again

        Assert.Equal(before, await StoredRowsAsync(database));
        await using var check = await database.DataSource.OpenConnectionAsync();
        Assert.Equal("3", await check.ExecuteScalarAsync<string>($"SELECT version FROM {SchemaMigrator.MetadataTable} WHERE type = 3"));
        Assert.Equal(["3", "4", "5", "6", "7", "8", "9"], (await check.QueryAsync<string>($"SELECT version FROM {SchemaMigrator.MetadataTable} WHERE type = 0 AND success")).Order());

        // The old offset row is kept as the start of every window size (window_seconds 0) until each writes its own.
        var store = new StatisticsStore(database.DataSource, 50);
        Assert.Equal([new StoredOffset(0, StoredOffset.LegacyWindowSeconds, 200)], await store.LoadOffsetsAsync("g", "t", [0], CancellationToken.None));
        var logs = TestData.Generate(100, seed: 11, TestData.BaseHour());
        Assert.Equal(FlushOutcome.Committed, (await store.FlushAsync("g", "t", Flushes(logs, partition: 0, firstOffset: 200, new Dictionary<int, long>()), CancellationToken.None)).Outcome);
        Assert.Equal(
            [new StoredOffset(0, StoredOffset.LegacyWindowSeconds, 200), new StoredOffset(0, 300, 300), new StoredOffset(0, 3600, 300)],
            (await store.LoadOffsetsAsync("g", "t", [0], CancellationToken.None)).OrderBy(o => o.WindowSeconds));
    }

    private static async Task<(long Models, long ModelRows, long FeatureRows, long Predictions)> StoredRowsAsync(PostgresDatabaseFixture database)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync();
        return await connection.QuerySingleAsync<(long, long, long, long)>(
            "SELECT (SELECT count(*) FROM models), (SELECT count(*) FROM model_window_stats), (SELECT count(*) FROM feature_window_stats), (SELECT coalesce(sum(prediction_count), 0)::bigint FROM model_window_stats)");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the 5m rows updated from the store's copy (WrittenRowCache): a deleted row is not updated, so read back
    public async Task Feature_rows_deleted_after_a_flush_are_created_again_by_the_next_flush_that_touches_them(bool reuse)
    {
        // The store remembers the rows its last flush of a size wrote and does not ask Postgres to create them again; a
        // row deleted since (retention, by hand) must still receive the next delta, not make the flush fail or drop it.
        await using var database = await MigratedDatabaseAsync(reuse ? "recreate-reuse" : "recreate");
        var store = new StatisticsStore(database.DataSource, 50);
        var logs = TestData.Generate(200, seed: 12, TestData.BaseHour());
        Assert.Equal(FlushOutcome.Committed, (await store.FlushAsync("g", "t", Flushes(logs.Take(100), 0, 0, new Dictionary<int, long>(), reuse), CancellationToken.None)).Outcome);
        await using (var connection = await database.DataSource.OpenConnectionAsync())
        {
            Assert.True(await connection.ExecuteAsync("DELETE FROM feature_window_stats WHERE feature = 'distance_km'") > 0);
        }

        Assert.Equal(FlushOutcome.Committed, (await store.FlushAsync("g", "t", Flushes(logs.Skip(100), 0, 100, new Dictionary<int, long> { [0] = 100 }, reuse), CancellationToken.None)).Outcome);

        await using var check = await database.DataSource.OpenConnectionAsync();
        var values = (await check.QueryAsync<(int WindowSeconds, string Feature, long Values)>(
            "SELECT window_seconds, feature, sum(value_count)::bigint FROM feature_window_stats GROUP BY 1, 2")).ToDictionary(r => (r.WindowSeconds, r.Feature), r => r.Values);
        foreach (var window in Windows)
        {
            Assert.Equal(100, values[(window.Seconds, "distance_km")]); // what was deleted is gone, what came after is all there
            Assert.Equal(200, values[(window.Seconds, "market")]);
        }

        // Every (window, model) of the second half has its distance_km row again.
        var expectedRows = Windows.Sum(w => logs.Skip(100).Select(l => (w.WindowStart(l.SentAt), l.PredictorName, l.ModelId)).Distinct().Count());
        Assert.Equal(expectedRows, await check.ExecuteScalarAsync<long>("SELECT count(*) FROM feature_window_stats WHERE feature = 'distance_km'"));
    }

    [Fact]
    public async Task A_write_reusing_an_earlier_writes_columns_stores_only_its_own_rows_values()
    {
        // The store reuses the parameter columns (and the sketches' buffers) of its last write. Rows without numbers after
        // rows with them at the same positions must store NULL statistics and no sketch, nothing left from before.
        await using var database = await MigratedDatabaseAsync("reused-columns");
        var store = new StatisticsStore(database.DataSource, 50);
        var hour = TestData.BaseHour();
        PredictionLog Log(int i, string model, string feature, FeatureValue value) =>
            new(hour.AddSeconds(i), $"{model}-{i}", "reuse", model, [new(feature, value)], i, []);
        var numbers = Enumerable.Range(0, 40).Select(i => Log(i, $"m{i % 4}", "amount", FeatureValue.FromNumber(10 + i))).ToList();
        var words = Enumerable.Range(40, 40).Select(i => Log(i, $"m{i % 4}", "colour", FeatureValue.FromString(i % 2 == 0 ? "red" : "blue"))).ToList();
        Assert.Equal(FlushOutcome.Committed, (await store.FlushAsync("g", "t", Flushes(numbers, 0, 0, new Dictionary<int, long>()), CancellationToken.None)).Outcome);
        Assert.Equal(FlushOutcome.Committed, (await store.FlushAsync("g", "t", Flushes(words, 0, 40, new Dictionary<int, long> { [0] = 40 }), CancellationToken.None)).Outcome);

        await using var connection = await database.DataSource.OpenConnectionAsync();
        var rows = (await connection.QueryAsync<(int WindowSeconds, string Model, string Feature, long Values, long Numbers, double? Mean, double? Min, double? P50, byte[]? Sketch, string Categories)>(
            "SELECT window_seconds, model_id, feature, value_count, numeric_count, mean, min, p50, sketch, categories::text FROM feature_window_stats")).ToList();
        Assert.Equal(Windows.Count * 4 * 2, rows.Count);
        foreach (var row in rows)
        {
            var model = row.Model[1] - '0';
            var mine = Enumerable.Range(0, 80).Where(i => i % 4 == model).ToList();
            if (row.Feature == "colour")
            {
                Assert.Equal(10, row.Values);
                Assert.Equal((0, null, null, null, null), (row.Numbers, row.Mean, row.Min, row.P50, row.Sketch));
                Assert.Equal(model % 2 == 0 ? "{\"red\": 10}" : "{\"blue\": 10}", row.Categories); // i % 4 == model: all even or all odd
            }
            else
            {
                var exact = mine.Where(i => i < 40).Select(i => 10.0 + i).ToList();
                Assert.Equal((10L, 10L), (row.Values, row.Numbers));
                Assert.Equal(exact.Average(), row.Mean!.Value, 1e-9);
                Assert.Equal(exact.Min(), row.Min);
                var sketch = Core.Statistics.DDSketch.Deserialize(row.Sketch);
                Assert.Equal(10, sketch.Count);
                Assert.Equal("{}", row.Categories);
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the 5m rows' copies: same xmin as before the move, so only the key tells a row from another
    public async Task Rows_moved_by_vacuum_full_between_flushes_each_get_their_own_delta(bool reuse)
    {
        // Locked rows are updated by ctid. VACUUM FULL rewrites the table between two flushes: every row moves and keeps its
        // xmin (the rows of one flush all share it), so a ctid remembered across transactions would name another row.
        await using var database = await MigratedDatabaseAsync(reuse ? "moved-reuse" : "moved");
        var store = new StatisticsStore(database.DataSource, 50);
        var logs = TestData.Generate(300, seed: 13, TestData.BaseHour());
        Assert.Equal(FlushOutcome.Committed, (await store.FlushAsync("g", "t", Flushes(logs.Take(150), 0, 0, new Dictionary<int, long>(), reuse), CancellationToken.None)).Outcome);
        await using (var connection = await database.DataSource.OpenConnectionAsync())
        {
            var before = (await connection.QueryAsync<string>("SELECT ctid::text FROM feature_window_stats ORDER BY window_seconds, predictor_name, model_id, feature, window_start")).ToList();
            // Rows deleted from the front of the table so the rest move down, then the rewrite.
            Assert.True(await connection.ExecuteAsync("DELETE FROM feature_window_stats WHERE ctid IN (SELECT ctid FROM feature_window_stats ORDER BY ctid LIMIT 7)") == 7);
            await connection.ExecuteAsync("VACUUM FULL feature_window_stats");
            var after = (await connection.QueryAsync<string>("SELECT ctid::text FROM feature_window_stats ORDER BY window_seconds, predictor_name, model_id, feature, window_start")).ToList();
            Assert.NotEqual(before.Take(after.Count), after); // the rows did move
        }

        Assert.Equal(FlushOutcome.Committed, (await store.FlushAsync("g", "t", Flushes(logs.Skip(150), 0, 150, new Dictionary<int, long> { [0] = 150 }, reuse), CancellationToken.None)).Outcome);

        // Each stored row holds exactly what the records of its own key gave it, less the deleted rows' first halves.
        await using var check = await database.DataSource.OpenConnectionAsync();
        var stored = (await check.QueryAsync<(int WindowSeconds, DateTime Start, string Model, string Feature, long Values)>(
            "SELECT window_seconds, window_start, model_id, feature, value_count FROM feature_window_stats")).ToList();
        var deletedFirstHalves = 0L;
        foreach (var row in stored)
        {
            var window = Windows.Single(w => w.Seconds == row.WindowSeconds);
            long Count(IEnumerable<PredictionLog> part) => part
                .Where(l => l.ModelId == row.Model && window.WindowStart(l.SentAt).UtcDateTime == row.Start)
                .Sum(l => l.Features.Count(f => f.Key == row.Feature && !f.Value.IsNull));
            var all = Count(logs);
            var second = Count(logs.Skip(150));
            Assert.True(row.Values == all || row.Values == second, $"{row.WindowSeconds} {row.Start:O} {row.Model} {row.Feature}: {row.Values}, expected {all} (or {second} if deleted)");
            deletedFirstHalves += all - row.Values;
        }

        Assert.True(deletedFirstHalves > 0, "some deleted row was created again by the second flush");
    }

    [Fact]
    public async Task A_consumer_that_lost_its_partition_cannot_write_late()
    {
        await using var database = await MigratedDatabaseAsync("fence");
        var store = new StatisticsStore(database.DataSource, 50);
        var logs = TestData.Generate(100, seed: 6, TestData.BaseHour());

        // The new owner flushes first: no stored offset yet, so it inserts next_offset = 50.
        var (outcome, _) = await store.FlushAsync("g", "t", Flushes(logs.Take(50), partition: 0, firstOffset: 0, new Dictionary<int, long>()), CancellationToken.None);
        Assert.Equal(FlushOutcome.Committed, outcome);

        // The zombie still believes nothing was stored (insert) or an older offset: both are fenced.
        Assert.Equal(FlushOutcome.Fenced, (await store.FlushAsync("g", "t", Flushes(logs.Take(50), 0, 0, new Dictionary<int, long>()), CancellationToken.None)).Outcome);
        Assert.Equal(FlushOutcome.Fenced, (await store.FlushAsync("g", "t", Flushes(logs.Take(50), 0, 0, new Dictionary<int, long> { [0] = 10 }), CancellationToken.None)).Outcome);

        // The owner continues from what it stored.
        Assert.Equal(FlushOutcome.Committed, (await store.FlushAsync("g", "t", Flushes(logs.Skip(50), 0, 50, new Dictionary<int, long> { [0] = 50 }), CancellationToken.None)).Outcome);

        var counts = await AggregatorHarness.PredictionCountsAsync(database.ConnectionString);
        Assert.Equal(100, counts[3600]);
        Assert.Equal(100, await AggregatorHarness.StoredOffsetSumAsync(database.ConnectionString, "g"));
    }

    [Fact]
    public async Task Concurrent_flushes_of_the_same_hot_rows_from_different_partitions_add_up_without_deadlock()
    {
        await using var database = await MigratedDatabaseAsync("hot");
        var store = new StatisticsStore(database.DataSource, 50);
        var logs = TestData.Generate(1_600, seed: 7, TestData.BaseHour());

        // Four "instances", one partition each, flushing overlapping (window, model, feature) rows at once.
        await Task.WhenAll(Enumerable.Range(0, 4).Select(async partition =>
        {
            var mine = logs.Where((_, i) => i % 4 == partition).ToList();
            long? stored = null;
            foreach (var (chunk, index) in mine.Chunk(50).Select((c, i) => (c, i)))
            {
                var expected = stored is { } s ? new Dictionary<int, long> { [partition] = s } : new Dictionary<int, long>();
                var (outcome, _) = await store.FlushAsync("g", "t", Flushes(chunk, partition, index * 50L, expected), CancellationToken.None);
                Assert.Equal(FlushOutcome.Committed, outcome);
                stored = (index * 50L) + chunk.Length;
            }
        }));

        var counts = await AggregatorHarness.PredictionCountsAsync(database.ConnectionString);
        Assert.Equal(logs.Count, counts[300]);
        Assert.Equal(logs.Count, counts[3600]);
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        var distanceValues = await connection.ExecuteScalarAsync<long>(
            "SELECT sum(value_count)::bigint FROM feature_window_stats WHERE window_seconds = 3600 AND feature = 'distance_km'");
        Assert.Equal(logs.Count, distanceValues);
    }

    [Fact]
    public async Task Retention_deletes_only_windows_older_than_the_cutoff_in_batches()
    {
        await using var database = await MigratedDatabaseAsync("retention");
        var store = new StatisticsStore(database.DataSource, 50);
        var old = TestData.Generate(50, seed: 8, DateTimeOffset.UtcNow.AddDays(-10));
        var recent = TestData.Generate(50, seed: 9, TestData.BaseHour());
        await store.FlushAsync("g", "t", Flushes(old.Concat(recent), partition: 0, firstOffset: 0, new Dictionary<int, long>()), CancellationToken.None);

        var cutoff = DateTimeOffset.UtcNow.AddDays(-7);
        int deleted;
        var batches = 0;
        do
        {
            deleted = await store.DeleteExpiredAsync("model_window_stats", 300, cutoff, batchSize: 3, CancellationToken.None);
            await store.DeleteExpiredAsync("feature_window_stats", 300, cutoff, batchSize: 3, CancellationToken.None);
            batches++;
        }
        while (deleted > 0);

        Assert.True(batches > 2);
        var counts = await AggregatorHarness.PredictionCountsAsync(database.ConnectionString);
        Assert.Equal(50, counts[300]);   // only the recent 5m windows are left
        Assert.Equal(100, counts[3600]); // 1h windows untouched
    }
}
