using System.Globalization;
using System.Net;
using System.Text;
using Dapper;
using ModelMonitor.Testing.Postgres;
using ModelMonitor.Testing.Waiting;

namespace ModelMonitor.Evaluation.Tests;

/// <summary>
/// Outcomes end to end through the all-in-one host on its embedded Kafka and a private Postgres: a regression predictor
/// with a primary and a shadow model (outcomes before and after their predictions, repeated, replaced by a different
/// value, one for a prediction that never comes) and a configured binary predictor; the quality in /metrics/statistics
/// and in Postgres equals the formulas applied to the raw final pairs. The predictions are dated yesterday (windows of
/// one day): the window stays the latest for the whole test.
/// </summary>
[Trait("Speed", "Slow")]
public sealed class EvaluationThroughTheHostTests
{
    private static readonly DateTimeOffset Yesterday = new(DateTime.UtcNow.Date.AddDays(-1).AddHours(12), TimeSpan.Zero);

    private static string Prediction(string predictor, string model, int id, double result) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{{\"sent_at\":\"{Yesterday.AddSeconds(id):yyyy-MM-ddTHH:mm:ssZ}\",\"prediction_id\":\"{predictor}-{id}\",\"predictor_name\":\"{predictor}\",\"model_id\":\"{model}\",\"features\":{{\"x\":{id}}},\"prediction_result\":{result:R}}}");

    private static string Outcome(string predictor, int id, string actual) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{{\"prediction_id\":\"{predictor}-{id}\",\"predictor_name\":\"{predictor}\",\"actual\":{actual},\"observed_at\":\"{Yesterday.AddSeconds(id + 600):yyyy-MM-ddTHH:mm:ssZ}\"}}");

    [Fact]
    public async Task Late_labels_give_the_quality_computed_from_the_raw_pairs_for_primary_and_shadow_models()
    {
        await using var database = await PostgresDatabaseFixture.CreateAsync("evaluation");
        using var host = await EvaluationHost.StartAsync(database.ConnectionString, extra: new()
        {
            ["Evaluation:Predictors:eval_eta:Task"] = "regression",
            ["Evaluation:Predictors:eval_fraud:Task"] = "binary",
            ["Evaluation:Predictors:eval_fraud:Threshold"] = "0.4",
            ["Evaluation:BaselineInterval"] = "00:00:01",
        });
        var random = new Random(16);
        var truth = Enumerable.Range(0, 400).Select(_ => 20 + (random.NextDouble() * 30)).ToArray();
        var primary = truth.Select(t => t * (1 + ((random.NextDouble() - 0.5) * 0.3))).ToArray();
        var shadow = truth.Select(t => (t * (1 + ((random.NextDouble() - 0.5) * 0.2))) + 1).ToArray();

        // Outcomes of 0-199 BEFORE their predictions, an outcome whose prediction never comes, then the predictions of both
        // models, then the outcomes of 200-349 AFTER them, 0-49 again (identical: ignored), 100-149 with another value (replaced).
        await host.PostAllAsync("/v1/outcomes", Enumerable.Range(0, 200).Select(i => Outcome("eval_eta", i, truth[i].ToString("R", CultureInfo.InvariantCulture)))
            .Append(Outcome("eval_eta", 5_000, "12")));
        await host.PostAllAsync("/v1/predictions", Enumerable.Range(0, 400).SelectMany(i => new[]
        {
            Prediction("eval_eta", "eta_primary", i, primary[i]), Prediction("eval_eta", "eta_shadow", i, shadow[i]),
        }));
        await host.PostAllAsync("/v1/outcomes", Enumerable.Range(200, 150).Select(i => Outcome("eval_eta", i, truth[i].ToString("R", CultureInfo.InvariantCulture))));
        await host.PostAllAsync("/v1/outcomes", Enumerable.Range(0, 50).Select(i => Outcome("eval_eta", i, truth[i].ToString("R", CultureInfo.InvariantCulture))));
        for (var i = 100; i < 150; i++)
        {
            truth[i] += 7.5;
        }
        await host.PostAllAsync("/v1/outcomes", Enumerable.Range(100, 50).Select(i => Outcome("eval_eta", i, truth[i].ToString("R", CultureInfo.InvariantCulture))));

        // A binary predictor: scores, and booleans for 300 of 400 (the score predicts them, imperfectly).
        var scores = Enumerable.Range(0, 400).Select(_ => Math.Round(random.NextDouble(), 6)).ToArray();
        var fraud = scores.Select(s => random.NextDouble() < s).ToArray();
        await host.PostAllAsync("/v1/predictions", Enumerable.Range(0, 400).Select(i => Prediction("eval_fraud", "fraud_v1", i, scores[i])));
        await host.PostAllAsync("/v1/outcomes", Enumerable.Range(0, 300).Select(i => Outcome("eval_fraud", i, fraud[i] ? "true" : "false")));

        // --- /metrics/statistics: the latest 1d window of each model, against the formulas on the final pairs ---
        var text = "";
        static string Labels(string predictor, string model) => $"predictor_name=\"{predictor}\",model_id=\"{model}\",window=\"1d\"";
        await Eventually.UntilAsync(async () =>
        {
            text = await host.Http.GetStringAsync("/metrics/statistics");
            return EvaluationHost.Sample(text, $"modelmonitor_evaluation_labelled_count{{{Labels("eval_eta", "eta_primary")}}}") == 350
                && EvaluationHost.Sample(text, "modelmonitor_evaluation_baseline_labelled_count{predictor_name=\"eval_eta\",model_id=\"eta_shadow\"}") == 350
                && EvaluationHost.Sample(text, $"modelmonitor_evaluation_labelled_count{{{Labels("eval_eta", "eta_shadow")}}}") == 350
                && EvaluationHost.Sample(text, $"modelmonitor_evaluation_labelled_count{{{Labels("eval_fraud", "fraud_v1")}}}") == 300;
        }, TimeSpan.FromSeconds(90), () => $"350, 350 and 300 labelled predictions in /metrics/statistics:\n{Tail(text)}\nhost:\n{host.Process.Output(40)}");

        foreach (var (model, predictions) in new[] { ("eta_primary", primary), ("eta_shadow", shadow) })
        {
            var expected = Exact.Regression([.. Enumerable.Range(0, 350).Select(i => (predictions[i], truth[i]))]);
            foreach (var (metric, value) in expected)
            {
                Exact.Close(value, EvaluationHost.Sample(text, $"modelmonitor_evaluation_{metric}{{{Labels("eval_eta", model)}}}"), $"{model} {metric}");
            }
            Exact.Close(350 / 400.0, EvaluationHost.Sample(text, $"modelmonitor_evaluation_label_coverage{{{Labels("eval_eta", model)}}}"), "coverage");
            // |error| quantiles within the sketch's 1 % of the exact lower nearest-rank value.
            var errors = Enumerable.Range(0, 350).Select(i => Math.Abs(predictions[i] - truth[i])).Order().ToArray();
            foreach (var q in new[] { 0.5, 0.9, 0.95, 0.99 })
            {
                var exact = errors[(int)Math.Floor(q * (errors.Length - 1))];
                Exact.Close(exact, EvaluationHost.Sample(text,
                    $"modelmonitor_evaluation_abs_error_quantile{{{Labels("eval_eta", model)},quantile=\"{q.ToString(CultureInfo.InvariantCulture)}\"}}"), $"|error| p{q}", 0.0101);
            }
            // Every label came 600 s after its prediction.
            Exact.Close(600, EvaluationHost.Sample(text, $"modelmonitor_evaluation_label_delay_quantile{{{Labels("eval_eta", model)},quantile=\"0.5\"}}"), "delay", 0.0101);
            Assert.Equal(Yesterday.Date.AddDays(1), DateTimeOffset.FromUnixTimeSeconds((long)EvaluationHost.Sample(text,
                $"modelmonitor_evaluation_window_end_timestamp_seconds{{{Labels("eval_eta", model)}}}")!.Value).UtcDateTime);
            Assert.Null(EvaluationHost.Sample(text, $"modelmonitor_evaluation_accuracy{{{Labels("eval_eta", model)}}}"));
            // The regression alert's baseline: yesterday's window is the 7 days before today's, pooled.
            Exact.Close(expected["mae"], EvaluationHost.Sample(text, $"modelmonitor_evaluation_baseline_mae{{predictor_name=\"eval_eta\",model_id=\"{model}\"}}"), "baseline mae");
            Exact.Close(expected["rmse"], EvaluationHost.Sample(text, $"modelmonitor_evaluation_baseline_rmse{{predictor_name=\"eval_eta\",model_id=\"{model}\"}}"), "baseline rmse");
        }

        var binary = Enumerable.Range(0, 300).Select(i => (scores[i], fraud[i])).ToList();
        foreach (var (metric, value) in Exact.Binary(binary, 0.4))
        {
            Exact.Close(value, EvaluationHost.Sample(text, $"modelmonitor_evaluation_{metric}{{{Labels("eval_fraud", "fraud_v1")}}}"), $"fraud {metric}");
        }
        // 1,000 bins: exact up to ties inside a bin (scores are 6-digit random numbers: few share a bin with the other class).
        Exact.Close(Exact.RocAuc(binary), EvaluationHost.Sample(text, $"modelmonitor_evaluation_roc_auc{{{Labels("eval_fraud", "fraud_v1")}}}"), "roc_auc", 0.01);
        Assert.Null(EvaluationHost.Sample(text, $"modelmonitor_evaluation_mae{{{Labels("eval_fraud", "fraud_v1")}}}"));

        // --- The join's own counters, and the same numbers in Postgres ---
        var own = await host.Http.GetStringAsync("/metrics");
        Assert.Equal(50, EvaluationHost.Sample(own, "modelmonitor_evaluation_outcomes_total{result=\"identical\"}"));
        Assert.Equal(50, EvaluationHost.Sample(own, "modelmonitor_evaluation_outcomes_total{result=\"replaced\"}"));
        Assert.Equal(651, EvaluationHost.Sample(own, "modelmonitor_evaluation_outcomes_total{result=\"new\"}"));
        Assert.Equal(1, EvaluationHost.Sample(own, "modelmonitor_evaluation_enabled{predictor_name=\"eval_eta\",task=\"regression\",source=\"configured\"}"));

        await using var connection = await database.DataSource.OpenConnectionAsync();
        var row = await connection.QuerySingleAsync<(long Predictions, long Labelled, double Mae, double Rmse, double R2)>(
            """
            SELECT prediction_count, labelled_count, mae, rmse, r2 FROM evaluation_window_stats
            WHERE window_seconds = 86400 AND predictor_name = 'eval_eta' AND model_id = 'eta_primary'
            """);
        var primaryExpected = Exact.Regression([.. Enumerable.Range(0, 350).Select(i => (primary[i], truth[i]))]);
        Assert.Equal((400L, 350L), (row.Predictions, row.Labelled));
        Exact.Close(primaryExpected["mae"], row.Mae, "mae in Postgres");
        Exact.Close(primaryExpected["rmse"], row.Rmse, "rmse in Postgres");
        Exact.Close(primaryExpected["r2"], row.R2, "r2 in Postgres");
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM evaluation_outcomes WHERE predictor_name = 'eval_eta' AND NOT matched"));
        Assert.Equal(truth[120], await connection.ExecuteScalarAsync<double>(
            "SELECT actual_number FROM evaluation_outcomes WHERE predictor_name = 'eval_eta' AND prediction_id = 'eval_eta-120'"));

        // --- A predictor retired by an operator (and silent since) leaves the evaluation families, as its statistics ---
        await connection.ExecuteAsync("INSERT INTO retired_models (predictor_name, model_id, reason) VALUES ('eval_fraud', '', 'test')");
        await Eventually.UntilAsync(async () => !(await host.Http.GetStringAsync("/metrics/statistics")).Contains("model_id=\"fraud_v1\"", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "the retired predictor's evaluation series gone");
        Assert.Contains("modelmonitor_evaluation_mae{predictor_name=\"eval_eta\"", await host.Http.GetStringAsync("/metrics/statistics"), StringComparison.Ordinal);

        // --- Outcomes are validated like predictions: per-record errors naming the field ---
        using var bad = await host.Http.PostAsync("/v1/outcomes", new StringContent(
            "[{\"prediction_id\":\"a\",\"predictor_name\":\"eval_eta\",\"actual\":NaN,\"observed_at\":\"2026-01-01T00:00:00Z\"}," +
            "{\"prediction_id\":\"b\",\"predictor_name\":\"eval\\u0001eta\",\"actual\":1,\"observed_at\":\"" + DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) + "\"}," +
            "{\"prediction_id\":\"c\",\"predictor_name\":\"eval_eta\",\"actual\":{},\"observed_at\":\"" + DateTime.UtcNow.AddHours(1).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) + "\"}]",
            Encoding.UTF8, "application/json"));
        var problem = await bad.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("\"field\":\"actual\",\"message\":\"must be a finite number", problem, StringComparison.Ordinal);
        Assert.Contains("\"field\":\"predictor_name\",\"message\":\"must not contain control characters\"", problem, StringComparison.Ordinal);
        Assert.Contains("\"field\":\"actual\",\"message\":\"must be a number, a string or a boolean, got an object\"", problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Predictions_never_labelled_and_outcomes_never_matched_are_deleted_and_counted_at_the_horizon()
    {
        await using var database = await PostgresDatabaseFixture.CreateAsync("evaluation_expiry");
        using var host = await EvaluationHost.StartAsync(database.ConnectionString, extra: new()
        {
            ["Evaluation:Predictors:exp_eta:Task"] = "regression",
            ["Evaluation:LabelHorizon"] = "00:00:08",
            ["Evaluation:ExpiryInterval"] = "00:00:01",
        });
        var now = DateTimeOffset.UtcNow;
        string Prediction(int i) => string.Create(CultureInfo.InvariantCulture,
            $"{{\"sent_at\":\"{now:yyyy-MM-ddTHH:mm:ss.fffZ}\",\"prediction_id\":\"x-{i}\",\"predictor_name\":\"exp_eta\",\"model_id\":\"m\",\"features\":{{}},\"prediction_result\":{i}}}");
        string Outcome(int i) => string.Create(CultureInfo.InvariantCulture,
            $"{{\"prediction_id\":\"x-{i}\",\"predictor_name\":\"exp_eta\",\"actual\":{i + 1},\"observed_at\":\"{now:yyyy-MM-ddTHH:mm:ss.fffZ}\"}}");
        // The join reads the outcomes topic once it exists (created by the first outcome, seen at the next metadata refresh):
        // an outcome that never finds its prediction first, so the 8 s horizon starts with both topics read.
        await host.PostAllAsync("/v1/outcomes", [Outcome(103)]);
        await Eventually.UntilAsync(async () => EvaluationHost.Sample(await host.Http.GetStringAsync("/metrics"), "modelmonitor_evaluation_outcomes_consumed_total") >= 1,
            TimeSpan.FromSeconds(60), () => $"the join reads the outcomes topic; host:\n{host.Process.Output(30)}");
        // The horizon counts from here: reading the outcomes topic can take longer than the horizon on a busy machine, and
        // records sent before would be refused as older than it.
        now = DateTimeOffset.UtcNow;
        // 0-9 labelled, 10-16 never labelled, outcomes 100-103 for predictions that never come.
        await host.PostAllAsync("/v1/predictions", Enumerable.Range(0, 17).Select(Prediction));
        await host.PostAllAsync("/v1/outcomes", Enumerable.Range(0, 10).Concat(Enumerable.Range(100, 3)).Select(Outcome));

        await using var connection = await database.DataSource.OpenConnectionAsync();
        await Eventually.UntilAsync(async () => await connection.ExecuteScalarAsync<long>(
                "SELECT coalesce(max(labelled_count), 0) FROM evaluation_window_stats WHERE predictor_name = 'exp_eta'") == 10,
            TimeSpan.FromSeconds(30), () => $"10 pairs joined before the horizon; host:\n{host.Process.Output(30)}");
        var own = "";
        await Eventually.UntilAsync(async () =>
        {
            own = await host.Http.GetStringAsync("/metrics");
            return EvaluationHost.Sample(own, "modelmonitor_evaluation_predictions_expired_total") == 7
                && EvaluationHost.Sample(own, "modelmonitor_evaluation_outcomes_expired_total") == 4;
        }, TimeSpan.FromSeconds(60), () => $"7 predictions and 4 outcomes expired:\n{string.Join('\n', own.Split('\n').Where(l => l.Contains("expired", StringComparison.Ordinal)))}");
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM evaluation_predictions"));
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM evaluation_outcomes"));
        // The quality of the window stays: the store of pending rows is what expires, not the results.
        Assert.Equal(10, await connection.ExecuteScalarAsync<long>("SELECT max(labelled_count) FROM evaluation_window_stats WHERE predictor_name = 'exp_eta'"));
    }

    private static string Tail(string text) => string.Join('\n', text.Split('\n').Where(l => l.StartsWith("modelmonitor_evaluation", StringComparison.Ordinal)).Take(40));
}
