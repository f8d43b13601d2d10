using System.Globalization;
using Dapper;
using ModelMonitor.Testing.Kafka;
using ModelMonitor.Testing.Postgres;
using ModelMonitor.Testing.Waiting;

namespace ModelMonitor.Evaluation.Tests;

/// <summary>
/// The join against a Kafka outside the hosts (librdkafka's mock cluster): two all-in-one instances share the consumer
/// groups and one is killed (SIGKILL) in the middle of a mixed prediction/outcome load and started again; the stored
/// quality is exactly that of the raw pairs (nothing joined twice, nothing lost). And the co-partitioning refusal.
/// </summary>
[Trait("Speed", "Slow")]
public sealed class JoinExactlyOnceTests
{
    private static readonly DateTimeOffset Yesterday = new(DateTime.UtcNow.Date.AddDays(-1).AddHours(6), TimeSpan.Zero);

    [Fact]
    public async Task Two_instances_and_a_kill_minus_9_join_every_outcome_exactly_once()
    {
        using var kafka = new ControllableKafkaCluster();
        kafka.CreateTopic("modelmonitor.predictions", 4);
        kafka.CreateTopic("modelmonitor.outcomes", 4);
        await using var database = await PostgresDatabaseFixture.CreateAsync("evaluation_once");
        var settings = new Dictionary<string, string?>
        {
            ["Evaluation:Predictors:once_eta:Task"] = "regression",
            // A killed member keeps its partitions until its session times out (45 s by default): while it does, its
            // partitions are nobody's, and the mock cluster may not rebalance them at its expiry. Short, as in the
            // aggregator's crash tests.
            ["Aggregator:Consumer:session.timeout.ms"] = "3000",
            // The shadow comparison in the same transactions: the predictions are yesterday's.
            ["Shadow:JoinWindow"] = "2.00:00:00",
            ["Shadow:ReloadInterval"] = "00:00:01",
        };
        using var survivor = await EvaluationHost.StartAsync(database.ConnectionString, kafka.BootstrapServers, settings);
        var victim = await EvaluationHost.StartAsync(database.ConnectionString, kafka.BootstrapServers, settings);
        try
        {
            await KillDuringLoadAsync(survivor, () => victim, v => victim = v, database, kafka.BootstrapServers, settings);
        }
        finally
        {
            victim.Dispose(); // also when the test fails: an orphaned host would hold its ports and the build
        }
    }

    private static async Task KillDuringLoadAsync(EvaluationHost survivor, Func<EvaluationHost> currentVictim, Action<EvaluationHost> replaceVictim,
        PostgresDatabaseFixture database, string bootstrapServers, Dictionary<string, string?> settings)
    {
        // once_eta's model m has a registered shadow s: both instances compare them from their next reload.
        using (var registered = await survivor.Http.PutAsync("/v1/predictors/once_eta", new StringContent(
                   """{"primary_model_id":"m","shadow_model_ids":["s"]}""", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.Equal(System.Net.HttpStatusCode.Created, registered.StatusCode);
        }
        foreach (var host in new[] { survivor, currentVictim() })
        {
            await Eventually.UntilAsync(async () => EvaluationHost.Sample(await host.Http.GetStringAsync("/metrics"), "modelmonitor_shadow_join_predictors") == 1,
                TimeSpan.FromSeconds(30), "both instances compare once_eta's models");
        }

        const int Count = 3_000;
        var random = new Random(17);
        var truth = Enumerable.Range(0, Count).Select(_ => 10 + (random.NextDouble() * 40)).ToArray();
        var predicted = truth.Select(t => t + ((random.NextDouble() - 0.5) * 8)).ToArray();
        var shadowed = predicted.Select(p => (p * 1.1) + ((random.NextDouble() - 0.5) * 2)).ToArray();
        string Of(int i, string model, double result) => string.Create(CultureInfo.InvariantCulture,
            $"{{\"sent_at\":\"{Yesterday.AddSeconds(i):yyyy-MM-ddTHH:mm:ssZ}\",\"prediction_id\":\"o-{i}\",\"predictor_name\":\"once_eta\",\"model_id\":\"{model}\",\"features\":{{}},\"prediction_result\":{result:R}}}");
        string Prediction(int i) => Of(i, "m", predicted[i]);
        string Outcome(int i) => string.Create(CultureInfo.InvariantCulture,
            $"{{\"prediction_id\":\"o-{i}\",\"predictor_name\":\"once_eta\",\"actual\":{truth[i]:R},\"observed_at\":\"{Yesterday.AddSeconds(i + 60):yyyy-MM-ddTHH:mm:ssZ}\"}}");

        // Interleaved: predictions of a slice, outcomes of the slice before (late) and of some ahead (early).
        for (var slice = 0; slice < Count; slice += 300)
        {
            await survivor.PostAllAsync("/v1/predictions", Enumerable.Range(slice, 300).SelectMany(i => new[] { Prediction(i), Of(i, "s", shadowed[i]) }));
            await survivor.PostAllAsync("/v1/outcomes", Enumerable.Range(slice, 300).Where(i => i % 2 == 0).Select(Outcome));
            if (slice > 0)
            {
                await survivor.PostAllAsync("/v1/outcomes", Enumerable.Range(slice - 300, 300).Where(i => i % 2 == 1).Select(Outcome));
            }
            if (slice == 1_200)
            {
                var victim = currentVictim();
                await victim.Process.KillAsync(); // SIGKILL: whatever it held unwritten is read again by the next owner
                victim.Dispose();
                replaceVictim(await EvaluationHost.StartAsync(database.ConnectionString, bootstrapServers, settings));
            }
            await Task.Delay(200);
        }
        await survivor.PostAllAsync("/v1/outcomes", Enumerable.Range(Count - 300, 300).Where(i => i % 2 == 1).Select(Outcome));

        await using var connection = await database.DataSource.OpenConnectionAsync();
        (long Predictions, long Labelled, double? Mae, double? Rmse, double? MeanError) row = default;
        await Eventually.UntilAsync(async () =>
        {
            row = await connection.QuerySingleOrDefaultAsync<(long, long, double?, double?, double?)>(
                "SELECT prediction_count, labelled_count, mae, rmse, mean_error FROM evaluation_window_stats WHERE window_seconds = 86400 AND predictor_name = 'once_eta' AND model_id = 'm'");
            return row.Labelled >= Count && row.Predictions >= Count;
        }, TimeSpan.FromSeconds(120), () => $"{Count} labelled predictions stored (now {row.Predictions} / {row.Labelled}); survivor:\n{survivor.Process.Output(30)}\nvictim:\n{currentVictim().Process.Output(30)}");
        await Task.Delay(2_000); // anything counted twice would arrive by now
        row = await connection.QuerySingleAsync<(long, long, double?, double?, double?)>(
            "SELECT prediction_count, labelled_count, mae, rmse, mean_error FROM evaluation_window_stats WHERE window_seconds = 86400 AND predictor_name = 'once_eta' AND model_id = 'm'");
        var expected = Exact.Regression([.. Enumerable.Range(0, Count).Select(i => (predicted[i], truth[i]))]);
        Assert.Equal((Count, Count), ((int)row.Predictions, (int)row.Labelled));
        Exact.Close(expected["mae"], row.Mae, "mae");
        Exact.Close(expected["rmse"], row.Rmse, "rmse");
        Exact.Close(expected["mean_error"], row.MeanError, "mean error");

        // The shadow comparison of the same transactions: every pair once, with the exact mean difference.
        var shadow = await connection.QuerySingleAsync<(long Pairs, double? DiffMean)>(
            "SELECT pairs, diff_mean FROM shadow_window_stats WHERE window_seconds = 86400 AND predictor_name = 'once_eta' AND model_a = 'm' AND model_b = 's'");
        Assert.Equal(Count, shadow.Pairs);
        Exact.Close(Enumerable.Range(0, Count).Average(i => shadowed[i] - predicted[i]), shadow.DiffMean, "shadow − primary");
        var counts = (await connection.QueryAsync<long>(
            "SELECT prediction_count FROM shadow_model_window_stats WHERE window_seconds = 86400 AND predictor_name = 'once_eta' ORDER BY model_id")).ToList();
        Assert.Equal([Count, Count], counts);
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM shadow_predictions")); // every id complete
    }

    [Fact]
    public async Task A_service_refuses_to_start_when_the_outcomes_topic_has_another_partition_count()
    {
        using var kafka = new ControllableKafkaCluster();
        kafka.CreateTopic("modelmonitor.predictions", 4);
        kafka.CreateTopic("modelmonitor.outcomes", 2);
        await using var database = await PostgresDatabaseFixture.CreateAsync("evaluation_copartition");
        using var host = await EvaluationHost.StartAsync(database.ConnectionString, kafka.BootstrapServers, waitUntilReady: false);

        Assert.True(await host.Process.WaitForExitAsync(TimeSpan.FromSeconds(60)), $"the host did not stop:\n{host.Process.Output(30)}");
        Assert.NotEqual(0, host.Process.ExitCode);
        Assert.Contains("Kafka topics modelmonitor.predictions (4 partitions) and modelmonitor.outcomes (2 partitions) must have the same partition count",
            host.Process.Output(200), StringComparison.Ordinal);
    }
}
