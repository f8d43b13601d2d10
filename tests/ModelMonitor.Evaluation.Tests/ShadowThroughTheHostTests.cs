using System.Globalization;
using System.Net;
using System.Text;
using Dapper;
using ModelMonitor.Testing.Postgres;
using ModelMonitor.Testing.Waiting;

namespace ModelMonitor.Evaluation.Tests;

/// <summary>
/// Predictors and shadows end to end through the all-in-one host on a private Postgres: the registry API and file, a
/// registered primary and shadow whose comparison in /metrics/statistics and Postgres equals the formulas applied to the
/// raw pairs (repeats ignored, a shadow missing some ids, another predictor's same ids never paired), roles and ages, a
/// primary swap recorded as a change, retirement through DELETE, and an unregistered predictor's inferred primary. The
/// predictions are dated yesterday (windows of one day, Shadow:JoinWindow of two days).
/// </summary>
[Trait("Speed", "Slow")]
public sealed class ShadowThroughTheHostTests
{
    private static readonly DateTimeOffset Yesterday = new(DateTime.UtcNow.Date.AddDays(-1).AddHours(12), TimeSpan.Zero);

    private static string Prediction(string predictor, string model, int id, double result, int delaySeconds = 0) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{{\"sent_at\":\"{Yesterday.AddSeconds(id + delaySeconds):yyyy-MM-ddTHH:mm:ssZ}\",\"prediction_id\":\"id-{id}\",\"predictor_name\":\"{predictor}\",\"model_id\":\"{model}\",\"features\":{{\"x\":{id}}},\"prediction_result\":{result:R}}}");

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task A_registered_shadow_is_compared_with_its_primary_exactly_and_roles_ages_and_changes_are_published()
    {
        await using var database = await PostgresDatabaseFixture.CreateAsync("shadows");
        using var directory = new TempFile();
        File.WriteAllText(directory.Path, """
            # The GitOps registry: entries here are the API's to read, not to change.
            predictors:
              sh_file:
                primary_model_id: f1
                team: risk
                labels: {tier: "2"}
                models:
                  f1: {trained_at: "2026-01-01T00:00:00Z", version_info: {git: 3f2a1c9}}
            """);
        using var host = await EvaluationHost.StartAsync(database.ConnectionString, extra: new()
        {
            ["Shadow:JoinWindow"] = "2.00:00:00",
            ["Shadow:ReloadInterval"] = "00:00:01",
            ["Predictors:PrimaryCheckInterval"] = "00:00:01",
            ["Predictors:File"] = directory.Path,
        });

        // --- The registry API: validation naming the field, then a registration ---
        using (var bad = await host.Http.PutAsync("/v1/predictors/sh_eta", Json("""{"primary_model_id":"p","shadow_model_ids":["p"],"colour":"red","max_model_age":"a month"}""")))
        {
            var problem = await bad.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Contains("\"shadow_model_ids[0]\":[\"", problem, StringComparison.Ordinal);
            Assert.Contains("is the primary_model_id: a model is either the primary or a shadow", problem, StringComparison.Ordinal);
            Assert.Contains("\"colour\":[\"unknown field", problem, StringComparison.Ordinal);
        }
        using (var bad = await host.Http.PutAsync("/v1/predictors/sh_eta", Json("""{"max_model_age":"a month"}""")))
        {
            Assert.Contains("\"max_model_age\":[\"must be a duration", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using (var bad = await host.Http.PutAsync("/v1/predictors/sh_eta", new StringContent("{}", Encoding.UTF8, "text/plain")))
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, bad.StatusCode);
        }
        using (var created = await host.Http.PutAsync("/v1/predictors/sh_eta", Json("""{"primary_model_id":"p","shadow_model_ids":["s"],"team":"logistics","max_model_age":"30d"}""")))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }
        var trainedAt = DateTimeOffset.UtcNow.AddDays(-40);
        using (var model = await host.Http.PutAsync("/v1/predictors/sh_eta/models/p",
            Json("{\"trained_at\":\"" + trainedAt.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) + "\",\"version_info\":{\"framework\":\"lightgbm 4.5\"}}")))
        {
            Assert.Equal(HttpStatusCode.Created, model.StatusCode);
        }
        // The file's entry: readable, not changeable through the API.
        await Eventually.UntilAsync(async () => (await host.Http.GetAsync("/v1/predictors/sh_file")).StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(30), "the registry file loaded");
        Assert.Contains("\"source\":\"file\"", await host.Http.GetStringAsync("/v1/predictors/sh_file"), StringComparison.Ordinal);
        using (var conflict = await host.Http.PutAsync("/v1/predictors/sh_file", Json("{}")))
        {
            Assert.Equal(HttpStatusCode.Conflict, conflict.StatusCode);
        }

        // The join compares sh_eta (registered with two models) from its next reload.
        await Eventually.UntilAsync(async () => EvaluationHost.Sample(await host.Http.GetStringAsync("/metrics"), "modelmonitor_shadow_join_predictors") >= 1,
            TimeSpan.FromSeconds(30), () => $"the join compares sh_eta; host:\n{host.Process.Output(30)}");

        // p predicts ids 0-399, s ids 0-349, 5 s later, a tenth of them twice in the same request (the retried record, with
        // another value, is ignored: the first counts); sh_other predicts the same ids with its own models: never paired
        // with sh_eta's. 50 ids per request: an id's records travel in one Kafka message, so the join reads them together.
        var random = new Random(17);
        var primary = Enumerable.Range(0, 400).Select(_ => 20 + (random.NextDouble() * 30)).ToArray();
        var shadow = primary.Select(p => (p * 1.05) + ((random.NextDouble() - 0.5) * 4)).ToArray();
        IEnumerable<string> RecordsOf(int i) => i >= 350 ? [Prediction("sh_eta", "p", i, primary[i])]
            : i % 10 == 0 ? [Prediction("sh_eta", "p", i, primary[i]), Prediction("sh_eta", "s", i, shadow[i], delaySeconds: 5), Prediction("sh_eta", "s", i, 1_000, delaySeconds: 5)]
            : [Prediction("sh_eta", "p", i, primary[i]), Prediction("sh_eta", "s", i, shadow[i], delaySeconds: 5)];
        for (var start = 0; start < 400; start += 50)
        {
            await host.PostAllAsync("/v1/predictions", Enumerable.Range(start, 50).SelectMany(RecordsOf));
        }
        // Dated now: the inferred primary is the model with the most traffic in the last hour.
        var now = DateTimeOffset.UtcNow;
        await host.PostAllAsync("/v1/predictions", Enumerable.Range(0, 100).SelectMany(i => new[]
        {
            Prediction("sh_other", "o1", i, 1).Replace(Yesterday.AddSeconds(i).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
                now.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture), StringComparison.Ordinal),
            Prediction("sh_other", "o2", i, 2).Replace(Yesterday.AddSeconds(i).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
                now.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture), StringComparison.Ordinal),
        }));

        const string Labels = "predictor_name=\"sh_eta\",model_id=\"s\",primary_model_id=\"p\",window=\"1d\"";
        var text = "";
        await Eventually.UntilAsync(async () =>
        {
            text = await host.Http.GetStringAsync("/metrics/statistics");
            return EvaluationHost.Sample(text, $"modelmonitor_shadow_pairs{{{Labels}}}") == 350;
        }, TimeSpan.FromSeconds(90), () => $"350 pairs in /metrics/statistics:\n{Tail(text)}\nhost:\n{host.Process.Output(40)}");

        var pairs = Enumerable.Range(0, 350).Select(i => (P: primary[i], S: shadow[i])).ToList();
        var diffs = pairs.Select(p => p.S - p.P).ToList();
        Exact.Close(diffs.Average(), EvaluationHost.Sample(text, $"modelmonitor_shadow_diff_mean{{{Labels}}}"), "diff mean");
        Exact.Close(diffs.Average(Math.Abs), EvaluationHost.Sample(text, $"modelmonitor_shadow_abs_diff_mean{{{Labels}}}"), "abs diff mean");
        var meanP = pairs.Average(p => p.P);
        var meanS = pairs.Average(p => p.S);
        var r = pairs.Sum(p => (p.P - meanP) * (p.S - meanS))
            / Math.Sqrt(pairs.Sum(p => (p.P - meanP) * (p.P - meanP)) * pairs.Sum(p => (p.S - meanS) * (p.S - meanS)));
        Exact.Close(r, EvaluationHost.Sample(text, $"modelmonitor_shadow_correlation{{{Labels}}}"), "correlation");
        var abs = diffs.Select(Math.Abs).Order().ToArray();
        foreach (var q in new[] { 0.5, 0.9, 0.95, 0.99 })
        {
            Exact.Close(abs[(int)Math.Floor(q * (abs.Length - 1))], EvaluationHost.Sample(text,
                $"modelmonitor_shadow_abs_diff_quantile{{{Labels},quantile=\"{q.ToString(CultureInfo.InvariantCulture)}\"}}"), $"|diff| p{q}", 0.0101);
        }
        Assert.Equal(1, EvaluationHost.Sample(text, $"modelmonitor_shadow_match_ratio{{{Labels}}}")); // every s prediction has its p
        Exact.Close(350 / 400.0, EvaluationHost.Sample(text, $"modelmonitor_shadow_primary_match_ratio{{{Labels}}}"), "primary match ratio");
        Assert.Null(EvaluationHost.Sample(text, $"modelmonitor_shadow_agreement_ratio{{{Labels}}}")); // not binary
        Assert.Equal(0.5, EvaluationHost.Sample(text, "modelmonitor_predictor_shadow_divergence_threshold{predictor_name=\"sh_eta\"}"));

        // Roles and ages.
        Assert.Equal(1, EvaluationHost.Sample(text, "modelmonitor_model_info{predictor_name=\"sh_eta\",model_id=\"p\",role=\"primary\"}"));
        Assert.Equal(1, EvaluationHost.Sample(text, "modelmonitor_model_info{predictor_name=\"sh_eta\",model_id=\"s\",role=\"shadow\"}"));
        Exact.Close(40 * 86_400, EvaluationHost.Sample(text, "modelmonitor_model_age_seconds{predictor_name=\"sh_eta\",model_id=\"p\"}"), "age", 0.01);
        Assert.Equal(30 * 86_400, EvaluationHost.Sample(text, "modelmonitor_model_max_age_seconds{predictor_name=\"sh_eta\",model_id=\"p\"}"));
        Assert.True(EvaluationHost.Sample(text, "modelmonitor_model_serving_age_seconds{predictor_name=\"sh_eta\",model_id=\"p\"}") > 12 * 3_600);
        await Eventually.UntilAsync(async () => (await host.Http.GetStringAsync("/metrics/statistics")).Contains(
                "modelmonitor_model_info{predictor_name=\"sh_other\",model_id=\"o1\",role=\"inferred_primary\"} 1", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "sh_other's inferred primary (equal traffic: the first by name)");

        // --- Postgres: the row, and the waiting predictions (p's ids 350-399; complete ids deleted) ---
        await using var connection = await database.DataSource.OpenConnectionAsync();
        Assert.Equal(350, await connection.ExecuteScalarAsync<long>(
            "SELECT pairs FROM shadow_window_stats WHERE window_seconds = 86400 AND predictor_name = 'sh_eta' AND model_a = 'p' AND model_b = 's'"));
        Assert.Equal(50, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM shadow_predictions WHERE predictor_name = 'sh_eta'"));
        Assert.Equal(4, await connection.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM admin_audit WHERE predictor_name IN ('sh_eta', 'sh_file')")); // 2 API writes + the file's 2 entries
        var own = await host.Http.GetStringAsync("/metrics");
        Assert.Equal(35, EvaluationHost.Sample(own, "modelmonitor_shadow_join_predictions_repeated_total"));

        // --- Swapping primary and shadow is a change, and the comparison turns around ---
        using (var swapped = await host.Http.PutAsync("/v1/predictors/sh_eta", Json("""{"primary_model_id":"s","shadow_model_ids":["p"]}""")))
        {
            Assert.Equal(HttpStatusCode.OK, swapped.StatusCode);
        }
        await Eventually.UntilAsync(async () =>
        {
            text = await host.Http.GetStringAsync("/metrics/statistics");
            return text.Contains("modelmonitor_predictor_primary_changed_timestamp_seconds{predictor_name=\"sh_eta\",model_id=\"s\",previous_model_id=\"p\",source=\"registered\"}", StringComparison.Ordinal)
                && EvaluationHost.Sample(text, "modelmonitor_shadow_diff_mean{predictor_name=\"sh_eta\",model_id=\"p\",primary_model_id=\"s\",window=\"1d\"}") is not null;
        }, TimeSpan.FromSeconds(30), () => $"the swap published:\n{Tail(text)}");
        Exact.Close(-diffs.Average(), EvaluationHost.Sample(text, "modelmonitor_shadow_diff_mean{predictor_name=\"sh_eta\",model_id=\"p\",primary_model_id=\"s\",window=\"1d\"}"), "p − s");
        Exact.Close(350 / 400.0, EvaluationHost.Sample(text, "modelmonitor_shadow_match_ratio{predictor_name=\"sh_eta\",model_id=\"p\",primary_model_id=\"s\",window=\"1d\"}"), "p's match ratio");

        // --- GET shows the registration and the models; DELETE retires ---
        var view = await host.Http.GetStringAsync("/v1/predictors/sh_eta");
        Assert.Contains("\"primary_model_id\":\"s\"", view, StringComparison.Ordinal);
        Assert.Contains("\"model_id\":\"p\",\"role\":\"shadow\"", view, StringComparison.Ordinal);
        Assert.Contains("\"version_info\":{\"framework\":\"lightgbm 4.5\"}", view, StringComparison.Ordinal);
        using (var deleted = await host.Http.DeleteAsync("/v1/predictors/sh_eta/models/p"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }
        using (var missing = await host.Http.DeleteAsync("/v1/predictors/nobody"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }
        await Eventually.UntilAsync(async () => !(await host.Http.GetStringAsync("/metrics/statistics")).Contains("{predictor_name=\"sh_eta\",model_id=\"p\"", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "the retired model's series gone");
        Assert.Contains("modelmonitor_model_info{predictor_name=\"sh_eta\",model_id=\"s\",role=\"primary\"} 1",
            await host.Http.GetStringAsync("/metrics/statistics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unregistered_predictor_whose_models_never_share_a_request_stops_being_compared()
    {
        await using var database = await PostgresDatabaseFixture.CreateAsync("shadow_probation");
        using var host = await EvaluationHost.StartAsync(database.ConnectionString, extra: new() { ["Shadow:ReloadInterval"] = "00:00:01" });
        var now = DateTimeOffset.UtcNow;
        // An A/B split: each request goes to one of two models, never both.
        string Split(int i) => string.Create(CultureInfo.InvariantCulture,
            $"{{\"sent_at\":\"{now:yyyy-MM-ddTHH:mm:ss.fffZ}\",\"prediction_id\":\"ab-{i}\",\"predictor_name\":\"ab_split\",\"model_id\":\"{(i % 2 == 0 ? "a" : "b")}\",\"features\":{{}},\"prediction_result\":{i % 7}}}");
        await host.PostAllAsync("/v1/predictions", Enumerable.Range(0, 20).Select(Split));
        await Eventually.UntilAsync(async () => EvaluationHost.Sample(await host.Http.GetStringAsync("/metrics"), "modelmonitor_shadow_join_predictors") == 1,
            TimeSpan.FromSeconds(30), () => $"the join compares ab_split (two models seen); host:\n{host.Process.Output(20)}");

        await host.PostAllAsync("/v1/predictions", Enumerable.Range(20, 6_000).Select(Split));
        var own = "";
        await Eventually.UntilAsync(async () =>
        {
            own = await host.Http.GetStringAsync("/metrics");
            return EvaluationHost.Sample(own, "modelmonitor_shadow_join_suspended_predictors") == 1;
        }, TimeSpan.FromSeconds(60), () => $"ab_split suspended:\n{string.Join('\n', own.Split('\n').Where(l => l.StartsWith("modelmonitor_shadow_join", StringComparison.Ordinal)))}");
        await host.PostAllAsync("/v1/predictions", Enumerable.Range(6_020, 100).Select(Split));
        await Eventually.UntilAsync(async () => EvaluationHost.Sample(await host.Http.GetStringAsync("/metrics"),
                "modelmonitor_shadow_join_predictions_skipped_total{reason=\"no_shared_ids\"}") >= 100,
            TimeSpan.FromSeconds(30), "the suspended predictor's predictions skipped, not stored");
        Assert.Equal(0, EvaluationHost.Sample(await host.Http.GetStringAsync("/metrics"), "modelmonitor_shadow_join_pairs_total"));
    }

    private static string Tail(string text) => string.Join('\n', text.Split('\n')
        .Where(l => l.StartsWith("modelmonitor_shadow", StringComparison.Ordinal) || l.StartsWith("modelmonitor_model_", StringComparison.Ordinal)
            || l.StartsWith("modelmonitor_predictor", StringComparison.Ordinal)).Take(60));

    private sealed class TempFile : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"predictors-{Guid.NewGuid():N}.yaml");

        public void Dispose() => File.Delete(Path);
    }
}
