using Dapper;
using ModelMonitor.Core.Aggregation;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Windows;
using ModelMonitor.Storage.Statistics;
using ModelMonitor.Testing.Postgres;

namespace ModelMonitor.Aggregator.Tests;

/// <summary>
/// Feature rows updated from the store's copy of what it last wrote (<see cref="WindowFlush.ReuseWrittenRows"/>) against
/// the same flushes read back from Postgres, on the real Postgres: the stored rows must be the same bit for bit, whatever
/// another writer did to them in between, and a flush that fails must leave nothing of itself in the copy.
/// </summary>
public sealed class WrittenRowReuseTests
{
    private static readonly WindowSize Window = WindowSize.Parse("5m");

    // Two top categories stored per row: the five markets overflow it, so a copy that kept more than the stored top
    // would merge differently from a row read back.
    private const int Capacity = 2;

    private static WindowFlush Flush(IEnumerable<PredictionLog> logs, long firstOffset, bool reuse)
    {
        var delta = new AggregationDelta([Window], Capacity);
        var offset = firstOffset;
        foreach (var log in logs)
        {
            delta.Add(log);
            delta.Advance(0, ++offset);
        }

        var expected = firstOffset == 0 ? new Dictionary<int, long>() : new Dictionary<int, long> { [0] = firstOffset };
        return new WindowFlush(Window.Seconds, delta, expected, reuse);
    }

    /// <summary>Every stored column of every feature row (updated_at aside), in key order.</summary>
    private static async Task<List<string>> FeatureRowsAsync(PostgresDatabaseFixture database)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync();
        return [.. await connection.QueryAsync<string>(
            """
            SELECT concat_ws('|', window_seconds, window_start, predictor_name, model_id, feature, value_count, null_count,
                default_count, nonfinite_count, numeric_count, mean, m2, m2_scale, stddev, min, max, p05, p25, p50, p75, p95,
                encode(sketch, 'hex'), categorical_count, boolean_count, categories::text)
            FROM feature_window_stats ORDER BY window_seconds, predictor_name, model_id, feature, window_start
            """)];
    }

    private static async Task<int> ExecuteAsync(PostgresDatabaseFixture database, string sql)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync();
        return await connection.ExecuteAsync(sql);
    }

    [Fact]
    public async Task Rows_updated_from_the_copy_are_what_reading_them_back_writes_even_when_another_writer_changed_them()
    {
        await using var reused = await PostgresDatabaseFixture.CreateMigratedAsync("reuse-on");
        await using var readBack = await PostgresDatabaseFixture.CreateMigratedAsync("reuse-off");
        var reusing = new StatisticsStore(reused.DataSource, Capacity);
        var reading = new StatisticsStore(readBack.DataSource, Capacity);
        var logs = TestData.Generate(2_400, seed: 41, TestData.BaseHour());

        for (var chunk = 0; chunk < 6; chunk++)
        {
            var part = logs.Skip(chunk * 400).Take(400).ToList();
            foreach (var (store, reuse) in new[] { (reusing, true), (reading, false) })
            {
                Assert.Equal(FlushOutcome.Committed, (await store.FlushAsync("g", "t", [Flush(part, chunk * 400L, reuse)], CancellationToken.None)).Outcome);
            }

            if (chunk == 2)
            {
                // Another writer in both databases: one feature's rows changed, another's deleted (retention, by hand).
                foreach (var database in new[] { reused, readBack })
                {
                    Assert.True(await ExecuteAsync(database, "UPDATE feature_window_stats SET value_count = value_count + 1000, null_count = null_count + 1000 WHERE feature = 'amount' AND model_id = 'eta_v1'") > 10);
                    Assert.True(await ExecuteAsync(database, "DELETE FROM feature_window_stats WHERE feature = 'market' AND model_id = 'fraud_v1'") > 10);
                }
            }
        }

        Assert.Equal(await FeatureRowsAsync(readBack), await FeatureRowsAsync(reused));
        Assert.Equal(0, reading.RowsReused);
        // Most rows of flushes 2-6 came from the copy; the ones changed or deleted after flush 3 were read back instead.
        Assert.True(reusing.RowsReused > 1_000, $"{reusing.RowsReused} rows reused");
        Assert.InRange(reusing.RowsStale, 20, 200);

        // And the counts are the exact ones: every value once, plus what the other writer added.
        await using var connection = await reused.DataSource.OpenConnectionAsync();
        var amountValues = logs.Count(l => l.Features.Any(f => f.Key == "amount" && f.Value.Kind != FeatureValueKind.Null)); // nulls are not values
        var amountRows = await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM feature_window_stats WHERE feature = 'amount' AND model_id = 'eta_v1' AND value_count >= 1000");
        Assert.Equal(amountValues + (1000 * amountRows), await connection.ExecuteScalarAsync<long>("SELECT sum(value_count) FROM feature_window_stats WHERE feature = 'amount'"));
        Assert.Equal(logs.Count, await connection.ExecuteScalarAsync<long>("SELECT sum(value_count) FROM feature_window_stats WHERE feature = 'distance_km'"));
    }

    [Fact]
    public async Task A_flush_that_fails_after_merging_into_the_copy_leaves_nothing_of_itself_there()
    {
        await using var reused = await PostgresDatabaseFixture.CreateMigratedAsync("reuse-fail");
        var store = new StatisticsStore(reused.DataSource, Capacity);
        var logs = TestData.Generate(800, seed: 42, TestData.BaseHour());
        Assert.Equal(FlushOutcome.Committed, (await store.FlushAsync("g", "t", [Flush(logs.Take(400), 0, reuse: true)], CancellationToken.None)).Outcome);

        // The second half plus one record whose feature name Postgres refuses (U+0000): the cached rows are merged first,
        // then the new row's INSERT fails and the transaction rolls back.
        var poison = logs[400] with { Features = [.. logs[400].Features, new("bad\0name", FeatureValue.FromNumber(1))] };
        var failing = Flush(logs.Skip(400).Prepend(poison), 400, reuse: true);
        await Assert.ThrowsAsync<Npgsql.PostgresException>(() => store.FlushAsync("g", "t", [failing], CancellationToken.None));
        var reusedBefore = store.RowsReused;

        // The same offsets again without it: what is stored is the first half and the second half once.
        Assert.Equal(FlushOutcome.Committed, (await store.FlushAsync("g", "t", [Flush(logs.Skip(400), 400, reuse: true)], CancellationToken.None)).Outcome);
        await using var connection = await reused.DataSource.OpenConnectionAsync();
        Assert.Equal(logs.Count, await connection.ExecuteScalarAsync<long>("SELECT sum(value_count) FROM feature_window_stats WHERE feature = 'distance_km'"));
        Assert.Equal(logs.Count, await connection.ExecuteScalarAsync<long>("SELECT sum(categorical_count) FROM feature_window_stats WHERE feature = 'market'"));
        // The rows the failed flush did not take were still good copies and were reused.
        Assert.True(store.RowsReused >= reusedBefore, "reuse counter never goes back");
    }

    [Fact]
    public async Task Two_writers_of_the_same_rows_count_everything_once_and_the_reuse_stops_itself()
    {
        // Two aggregator instances of one group split the partitions, so both write every model's rows: each one's copy
        // goes stale at every flush of the other. Correct either way; the store notices and stops paying for it.
        await using var database = await PostgresDatabaseFixture.CreateMigratedAsync("reuse-two");
        var first = new StatisticsStore(database.DataSource, Capacity);
        var second = new StatisticsStore(database.DataSource, Capacity);
        var logs = TestData.Generate(3_200, seed: 43, TestData.BaseHour());
        var offsets = new Dictionary<StatisticsStore, long> { [first] = 0, [second] = 0 };
        var reusedAfterSuspension = -1L;
        for (var chunk = 0; chunk < 8; chunk++)
        {
            var store = chunk % 2 == 0 ? first : second;
            var group = chunk % 2 == 0 ? "a" : "b";
            Assert.Equal(FlushOutcome.Committed, (await store.FlushAsync(group, "t", [Flush(logs.Skip(chunk * 400).Take(400), offsets[store], reuse: true)], CancellationToken.None)).Outcome);
            offsets[store] += 400;
            if (chunk == 4)
            {
                reusedAfterSuspension = first.RowsReused;
            }
        }

        Assert.True(first.RowsStale >= 100, $"{first.RowsStale} stale rows seen");
        Assert.Equal(reusedAfterSuspension, first.RowsReused); // suspended after its second flush found its copies stale
        await using var connection = await database.DataSource.OpenConnectionAsync();
        Assert.Equal(logs.Count, await connection.ExecuteScalarAsync<long>("SELECT sum(value_count) FROM feature_window_stats WHERE feature = 'distance_km'"));
        Assert.Equal(logs.Count, await connection.ExecuteScalarAsync<long>("SELECT sum(categorical_count) FROM feature_window_stats WHERE feature = 'market'"));
    }
}
