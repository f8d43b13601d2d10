using Dapper;
using ModelMonitor.Core.Shadows;
using ModelMonitor.Core.Windows;
using ModelMonitor.Storage.Shadows;
using ModelMonitor.Testing.Postgres;

namespace ModelMonitor.Evaluation.Tests;

/// <summary>
/// The shadow join's writes against Postgres, batch by batch: an id complete within a batch is paired in memory and never
/// stored; an id with a prediction waiting takes the stored path even when the batch completes it (the waiting one counts,
/// the repeat is ignored); a waiting id is paired when its last model comes and then deleted.
/// </summary>
public sealed class ShadowStoreTests
{
    private static readonly DateTimeOffset T0 = new(DateTime.UtcNow.Date.AddHours(9), TimeSpan.Zero);
    private static readonly WindowSize Hour = new(3600);

    private static readonly Dictionary<string, ShadowPredictor> Predictors = new()
    {
        ["eta"] = new ShadowPredictor("eta", new HashSet<string> { "p", "s" }, null),
    };

    private static async Task<ShadowWriteResult> WriteAsync(PostgresDatabaseFixture database, params ShadowPrediction[] batch)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var result = await ShadowStore.WriteAsync(connection, transaction, batch, [Hour], TimeSpan.FromMinutes(10), Predictors, CancellationToken.None);
        await transaction.CommitAsync();
        return result;
    }

    [Fact]
    public async Task Complete_ids_are_paired_without_being_stored_and_waiting_ones_keep_their_first_prediction()
    {
        await using var database = await PostgresDatabaseFixture.CreateMigratedAsync("shadow_store");
        await using var connection = await database.DataSource.OpenConnectionAsync();
        ShadowPrediction P(string id, string model, double result, int seconds = 0) => new("eta", id, model, T0.AddSeconds(seconds), result);

        // 1. Only p of id a: it waits.
        var first = await WriteAsync(database, P("a", "p", 10));
        Assert.Equal((1, 0, 0L, 0, 1), (first.Stored, first.Repeated, first.Pairs, first.Completed, first.Rows)); // one model-count row
        Assert.Equal((1L, 0L), first.PerPredictor!["eta"]);
        Assert.Equal(1, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM shadow_predictions"));

        // 2. p again (a retry, another value) and s of id a: the stored path; the waiting p counts, the repeat does not.
        var second = await WriteAsync(database, P("a", "p", 99), P("a", "s", 13, 2));
        Assert.Equal((1, 1, 1L, 1), (second.Stored, second.Repeated, second.Pairs, second.Completed));
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM shadow_predictions")); // complete: deleted

        // 3. Both models of id b in one batch: paired, never stored.
        var third = await WriteAsync(database, P("b", "p", 20), P("b", "s", 21));
        Assert.Equal((2, 0, 1L, 1), (third.Stored, third.Repeated, third.Pairs, third.Completed));
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM shadow_predictions"));

        // 4. Predictions more than the join window apart do not pair, even in one batch (and, every model in, none waits).
        var fourth = await WriteAsync(database, P("c", "p", 1), P("c", "s", 2, 11 * 60));
        Assert.Equal(0, fourth.Pairs);
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM shadow_predictions"));

        var row = await connection.QuerySingleAsync<(long Pairs, double DiffMean, double AbsDiffMean)>(
            "SELECT pairs, diff_mean, abs_diff_mean FROM shadow_window_stats WHERE predictor_name = 'eta' AND model_a = 'p' AND model_b = 's'");
        Assert.Equal(2, row.Pairs);
        Assert.Equal((3 + 1) / 2.0, row.DiffMean, 12); // s − p: 13 − 10 (the first p), 21 − 20
        Assert.Equal(2.0, row.AbsDiffMean, 12);
        var counts = (await connection.QueryAsync<(string Model, long Count)>(
            "SELECT model_id, prediction_count FROM shadow_model_window_stats WHERE predictor_name = 'eta' ORDER BY model_id")).ToList();
        Assert.Equal([("p", 3L), ("s", 3L)], counts); // a, b, c of each; the repeat not counted
    }

    [Fact]
    public async Task A_waiting_prediction_is_found_whether_the_waiting_rows_are_read_whole_or_the_ids_looked_up()
    {
        await using var database = await PostgresDatabaseFixture.CreateMigratedAsync("shadow_store_waiting");
        await using var connection = await database.DataSource.OpenConnectionAsync();
        ShadowPrediction P(string id, string model, double result) => new("eta", id, model, T0, result);

        // Ten ids wait for s, p's predictions stored.
        await WriteAsync(database, [.. Enumerable.Range(0, 10).Select(i => P($"w{i}", "p", i))]);

        // Two complete ids, one of them waiting: more rows wait (10) than half the complete ids, so the ids are looked up.
        var lookedUp = await WriteAsync(database, P("w3", "p", 99), P("w3", "s", 3 + 2), P("n1", "p", 0), P("n1", "s", 2));
        Assert.Equal((3, 1, 2L), (lookedUp.Stored, lookedUp.Repeated, lookedUp.Pairs)); // w3's waiting p counts, not the batch's 99

        // Thirty complete ids, one of them waiting: the 9 waiting rows are fewer than half of them, so they are read whole.
        var readWhole = await WriteAsync(database,
            [.. Enumerable.Range(0, 29).SelectMany(i => new[] { P($"m{i}", "p", 0), P($"m{i}", "s", 2) }), P("w5", "p", 99), P("w5", "s", 5 + 2)]);
        Assert.Equal((59, 1, 30L), (readWhole.Stored, readWhole.Repeated, readWhole.Pairs));

        var row = await connection.QuerySingleAsync<(long Pairs, double DiffMean)>(
            "SELECT pairs, diff_mean FROM shadow_window_stats WHERE predictor_name = 'eta' AND model_a = 'p' AND model_b = 's'");
        Assert.Equal(32, row.Pairs);
        Assert.Equal(2.0, row.DiffMean, 12); // every pair differs by 2 only if w3 and w5 paired with their stored p
        Assert.Equal(8, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM shadow_predictions")); // w3 and w5 complete: deleted
    }
}
