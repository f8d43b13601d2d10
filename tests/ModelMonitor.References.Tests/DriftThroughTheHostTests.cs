using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Dapper;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Drift;
using ModelMonitor.Core.References;
using ModelMonitor.Core.Statistics;
using ModelMonitor.Testing.Postgres;
using ModelMonitor.Testing.Processes;
using ModelMonitor.Testing.Waiting;

namespace ModelMonitor.References.Tests;

/// <summary>
/// Drift end to end through the all-in-one host (a child process: API, embedded Kafka, aggregator, exporter) on a private
/// Postgres: a training reference uploaded as CSV, shifted traffic POSTed to the API, then the distances read from
/// /metrics/statistics and from Postgres's drift history and compared with the same measures computed here from the raw
/// values, and the reference read from Postgres. Windows of one day, the traffic dated yesterday: the window stays the latest completed one for the
/// whole test (unless it runs across midnight UTC).
/// </summary>
[Trait("Speed", "Slow")]
public sealed class DriftThroughTheHostTests
{
    private const string Predictor = "drift_eta";
    private const string Model = "eta_v1";
    private static readonly string[] ReferenceMarkets = ["paris", "paris", "paris", "paris", "paris", "lyon", "lyon", "lyon", "nice", "nice"];
    private static readonly string[] CurrentMarkets = ["paris", "paris", "lyon", "lyon", "berlin", "berlin", "berlin", "berlin", "berlin", "berlin"];

    private static double Normal(Random random, double mean, double sd) =>
        mean + (sd * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));

    [Fact]
    public async Task A_training_csv_and_shifted_traffic_give_the_drift_computed_from_the_raw_values()
    {
        await using var database = await PostgresDatabaseFixture.CreateAsync("drift");
        var port = ChildProcess.FreePort();
        var api = $"http://127.0.0.1:{port}";
        using var http = new HttpClient { BaseAddress = new Uri(api), Timeout = TimeSpan.FromSeconds(30) };
        using var host = ChildProcess.Start("ModelMonitor.AllInOne", "dotnet", [Path.Combine(AppContext.BaseDirectory, "ModelMonitor.AllInOne.dll")], new Dictionary<string, string?>
        {
            ["ASPNETCORE_URLS"] = api,
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["ConnectionStrings__Postgres"] = database.ConnectionString,
            ["Auth__Mode"] = "None",
            ["Aggregator__Windows"] = "1d",
            ["Aggregator__FlushInterval"] = "00:00:00.500",
            ["Exporter__RefreshInterval"] = "00:00:01",
            ["Exporter__CompletionDelay"] = "00:00:00",
            ["References__MaxUploadBytes"] = "1000000",
            ["Drift__HistoryInterval"] = "00:00:01",
            ["Drift__HistoryDelay"] = "00:00:00",
            ["Serilog__MinimumLevel__Default"] = "Warning",
        }, AppContext.BaseDirectory);
        await host.WaitUntilReadyAsync(http, new Uri($"{api}/readyz"), TimeSpan.FromSeconds(90));

        // --- The training reference: 3,000 rows ---
        var random = new Random(15);
        var referenceRows = Enumerable.Range(0, 3_000).Select(i => (Distance: Normal(random, 10, 2), Market: ReferenceMarkets[i % 10], Result: Normal(random, 100, 10))).ToList();
        var csv = new StringBuilder("distance_km,market,prediction_result\n");
        foreach (var (distance, market, result) in referenceRows)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{distance:R},{market},{result:R}\n");
        }

        using (var upload = await http.PostAsync("/v1/references/drift_eta/eta_v1?name=training", new StringContent(csv.ToString(), Encoding.UTF8, "text/csv")))
        {
            Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
            using var created = JsonDocument.Parse(await upload.Content.ReadAsStringAsync());
            Assert.Equal(3_000, created.RootElement.GetProperty("row_count").GetInt64());
            Assert.Equal(2, created.RootElement.GetProperty("features").GetInt32());
        }

        // A malformed replacement: 400 naming the line and column, and the stored reference is the first one still.
        using (var bad = await http.PostAsync("/v1/references/drift_eta/eta_v1?name=training", new StringContent("distance_km,market\n1,paris\n2,\"lyon\n", Encoding.UTF8, "text/csv")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            using var problem = JsonDocument.Parse(await bad.Content.ReadAsStringAsync());
            Assert.Equal(3, problem.RootElement.GetProperty("line").GetInt64());
            Assert.Equal("market", problem.RootElement.GetProperty("column").GetString());
        }

        // Past References:MaxUploadBytes (1 MB here): 413, whether the length is announced or the body is chunked.
        var big = "distance_km,market\n" + string.Concat(Enumerable.Repeat("12.5,paris\n", 110_000));
        using (var announced = await http.PostAsync("/v1/references/drift_eta/eta_v1?name=training", new StringContent(big, Encoding.UTF8, "text/csv")))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, announced.StatusCode);
        }

        using (var chunked = new StreamContent(new NonSeekable(Encoding.UTF8.GetBytes(big))))
        {
            chunked.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/csv");
            using var response = await http.PostAsync("/v1/references/drift_eta/eta_v1?name=training", chunked);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        }

        using (var wrongType = await http.PostAsync("/v1/references/drift_eta/eta_v1", new StringContent("x", Encoding.UTF8, "text/plain")))
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, wrongType.StatusCode);
        }

        var listed = await http.GetFromJsonAsync<JsonElement>("/v1/references/drift_eta/eta_v1");
        Assert.Equal(3_000, listed.GetProperty("references")[0].GetProperty("row_count").GetInt64());

        // --- Yesterday's traffic, shifted: distance +2 (one deviation), markets moved to berlin (unseen), a new feature ---
        var yesterday = new DateTimeOffset(DateTime.UtcNow.Date.AddDays(-1).AddHours(12), TimeSpan.Zero);
        var current = Enumerable.Range(0, 600).Select(i => (Distance: Normal(random, 12, 2), Market: CurrentMarkets[i % 10], Result: Normal(random, 110, 10))).ToList();
        for (var batch = 0; batch < current.Count; batch += 100)
        {
            var json = new StringBuilder("[");
            for (var i = batch; i < batch + 100; i++)
            {
                json.Append(i > batch ? "," : "").Append(CultureInfo.InvariantCulture,
                    $"{{\"sent_at\":\"{yesterday.AddSeconds(i).UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}\",\"prediction_id\":\"d-{i}\",\"predictor_name\":\"{Predictor}\",\"model_id\":\"{Model}\",")
                    .Append(CultureInfo.InvariantCulture, $"\"features\":{{\"distance_km\":{current[i].Distance:R},\"market\":\"{current[i].Market}\",\"surge\":1.5}},\"prediction_result\":{current[i].Result:R}}}");
            }

            using var posted = await http.PostAsync("/v1/predictions", new StringContent(json.Append(']').ToString(), Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
        }

        var text = "";
        const string Labels = "predictor_name=\"drift_eta\",model_id=\"eta_v1\"";
        await Eventually.UntilAsync(async () =>
        {
            text = await http.GetStringAsync("/metrics/statistics");
            return text.Contains($"modelmonitor_feature_count{{{Labels},feature=\"distance_km\",window=\"1d\"}} 600\n", StringComparison.Ordinal)
                && text.Contains("modelmonitor_feature_drift{", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(60), () => $"drift of 600 records in /metrics/statistics; host output:\n{host.Output(60)}");

        // --- What the same measures give on the raw values (the sketches are built from them exactly as the pipeline does) ---
        var expected = new ReferenceBuilder(Storage.References.ReferenceStore.CategoryCapacity, chunkRows: 1_000, maxChunks: 50);
        foreach (var (distance, market, result) in referenceRows)
        {
            expected.Row.Feature("distance_km").Add(FeatureValue.FromNumber(distance));
            expected.Row.Feature("market").Add(FeatureValue.FromString(market));
            expected.Row.Prediction.Add(result);
            expected.EndRow();
        }

        var (profile, thresholds) = expected.Complete();
        var window = new FeatureAccumulator();
        var markets = new FeatureAccumulator();
        var prediction = new NumericDistribution();
        foreach (var (distance, m, result) in current)
        {
            window.Add(FeatureValue.FromNumber(distance));
            markets.Add(FeatureValue.FromString(m));
            prediction.Add(result);
        }

        var points = new List<SketchPoint>();
        var distanceDrift = FeatureComparison.From(profile.Features["distance_km"]).Compare(WindowValues.Of(window, points))!.Value;
        var marketDrift = FeatureComparison.From(profile.Features["market"]).Compare(WindowValues.Of(markets, points))!.Value;
        var predictionDrift = FeatureComparison.FromNumbers(profile.Prediction.Result, 0).Compare(WindowValues.OfNumbers(prediction, 0, points))!.Value;

        string Feature(string feature) => $"{Labels},feature=\"{feature}\",window=\"1d\",reference=\"training\"";
        foreach (var method in DriftMethods.Numeric)
        {
            AssertSample(text, $"modelmonitor_feature_drift{{{Feature("distance_km")},method=\"{method.Label()}\"}}", distanceDrift.Of(method));
            AssertSample(text, $"modelmonitor_feature_drift_threshold{{{Feature("distance_km")},method=\"{method.Label()}\"}}",
                thresholds.Single(t => t.Feature == "distance_km" && t.Method == method).Threshold);
            AssertSample(text, $"modelmonitor_prediction_drift{{{Labels},window=\"1d\",reference=\"training\",method=\"{method.Label()}\"}}", predictionDrift.Of(method));
        }

        foreach (var method in DriftMethods.Categorical)
        {
            AssertSample(text, $"modelmonitor_feature_drift{{{Feature("market")},method=\"{method.Label()}\"}}", marketDrift.Of(method));
        }

        AssertSample(text, $"modelmonitor_feature_out_of_range_ratio{{{Feature("distance_km")}}}", distanceDrift.OutOfRangeRatio);
        AssertSample(text, $"modelmonitor_feature_unseen_category_ratio{{{Feature("market")}}}", 0.6);
        AssertSample(text, $"modelmonitor_feature_schema_anomaly{{{Feature("surge")},kind=\"new_feature\"}}", 1);
        AssertSample(text, $"modelmonitor_drift_reference_active{{{Labels},reference=\"training\"}}", 1);
        // A one-deviation shift and 60% of the values in a new category: both features above their thresholds.
        Assert.True(distanceDrift.JensenShannon > thresholds.Single(t => t.Feature == "distance_km" && t.Method == DriftMethod.JensenShannon).Threshold);
        AssertSample(text, $"modelmonitor_model_drifting_features{{{Labels},window=\"1d\",reference=\"training\"}}", 2);

        // --- The same distances in Postgres: the drift history of the window, stored again as its records came in ---
        await using (var connection = await database.DataSource.OpenConnectionAsync())
        {
            await Eventually.UntilAsync(
                async () => await connection.ExecuteScalarAsync<long?>("SELECT prediction_count FROM drift_windows WHERE window_seconds = 86400") == 600,
                TimeSpan.FromSeconds(30), "the window's drift stored with its 600 predictions");
            var rows = (await connection.QueryAsync<(string Feature, double? Psi, double? Js, double? Ks, double? W, double? Linf, double? OutOfRange, double? Unseen,
                    string? Anomaly, string? Method, double? Threshold, bool? Drifting)>("""
                SELECT feature, psi, jensen_shannon, ks, wasserstein, linf, out_of_range_ratio, unseen_category_ratio, schema_anomaly,
                       alert_method, alert_threshold, drifting
                FROM feature_drift
                WHERE window_seconds = 86400 AND window_start = @start AND predictor_name = 'drift_eta' AND model_id = 'eta_v1' AND reference = 'training'
                """, new { start = yesterday.UtcDateTime.Date })).ToDictionary(r => r.Feature);
            Assert.Equal(["distance_km", "market", "surge"], rows.Keys.Order());
            var distance = rows["distance_km"];
            AssertClose(distanceDrift.Psi, distance.Psi);
            AssertClose(distanceDrift.JensenShannon, distance.Js);
            AssertClose(distanceDrift.Ks, distance.Ks);
            AssertClose(distanceDrift.Wasserstein, distance.W);
            AssertClose(distanceDrift.OutOfRangeRatio, distance.OutOfRange);
            Assert.Equal((null, null, null), (distance.Linf, distance.Unseen, distance.Anomaly));
            Assert.Equal(("jensen_shannon", true), (distance.Method, distance.Drifting));
            AssertClose(thresholds.Single(t => t.Feature == "distance_km" && t.Method == DriftMethod.JensenShannon).Threshold, distance.Threshold);
            var market = rows["market"];
            AssertClose(marketDrift.Linf, market.Linf);
            AssertClose(marketDrift.JensenShannon, market.Js);
            AssertClose(marketDrift.Psi, market.Psi);
            AssertClose(0.6, market.Unseen);
            Assert.Equal((null, null, null), (market.Ks, market.W, market.OutOfRange));
            Assert.Equal(("new_feature", null, null), (rows["surge"].Anomaly, rows["surge"].Js, rows["surge"].Drifting));
            var predicted = await connection.QuerySingleAsync<(double? Psi, double? Js, double? Ks, double? W)>("""
                SELECT psi, jensen_shannon, ks, wasserstein FROM prediction_drift
                WHERE window_seconds = 86400 AND predictor_name = 'drift_eta' AND model_id = 'eta_v1' AND reference = 'training'
                """);
            AssertClose(predictionDrift.Psi, predicted.Psi);
            AssertClose(predictionDrift.JensenShannon, predicted.Js);
            AssertClose(predictionDrift.Ks, predicted.Ks);
            AssertClose(predictionDrift.Wasserstein, predicted.W);
        }

        // --- The reference in Postgres ---
        await using (var connection = await database.DataSource.OpenConnectionAsync())
        {
            var stored = await connection.QuerySingleAsync<(long ValueCount, long NumericCount, double Mean, string Type)>("""
                SELECT f.value_count, f.numeric_count, f.mean, f.observed_type
                FROM reference_features f JOIN reference_profiles r ON r.id = f.reference_id
                WHERE r.predictor_name = 'drift_eta' AND r.model_id = 'eta_v1' AND r.name = 'training' AND f.feature = 'distance_km'
                """);
            Assert.Equal((3_000L, 3_000L, "numeric"), (stored.ValueCount, stored.NumericCount, stored.Type));
            Assert.Equal(referenceRows.Average(r => r.Distance), stored.Mean, 9);
            var storedThreshold = await connection.QuerySingleAsync<double>("""
                SELECT t.threshold FROM reference_thresholds t JOIN reference_profiles r ON r.id = t.reference_id
                WHERE r.name = 'training' AND t.feature = 'distance_km' AND t.method = 'ks' AND t.window_seconds = 0
                """);
            Assert.Equal(thresholds.Single(t => t.Feature == "distance_km" && t.Method == DriftMethod.Ks).Threshold, storedThreshold, 12);
        }

        // --- Yesterday pinned as a reference: the window is its own reference, at distance 0 ---
        var day = new DateTimeOffset(DateTime.UtcNow.Date, TimeSpan.Zero);
        using (var pinned = await http.PostAsync("/v1/references/drift_eta/eta_v1?name=yesterday", new StringContent(
                   $"{{\"from\":\"{day.AddDays(-1):yyyy-MM-ddTHH:mm:ssZ}\",\"to\":\"{day:yyyy-MM-ddTHH:mm:ssZ}\"}}", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.Created, pinned.StatusCode);
            using var created = JsonDocument.Parse(await pinned.Content.ReadAsStringAsync());
            Assert.Equal(("pinned", 600L), (created.RootElement.GetProperty("kind").GetString(), created.RootElement.GetProperty("row_count").GetInt64()));
        }

        var pinnedKs = $"modelmonitor_feature_drift{{{Labels},feature=\"distance_km\",window=\"1d\",reference=\"yesterday\",method=\"ks\"}}";
        await Eventually.UntilAsync(async () => (text = await http.GetStringAsync("/metrics/statistics")).Contains(pinnedKs, StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "the pinned reference's drift");
        AssertSample(text, pinnedKs, 0);
        using (var empty = await http.PostAsync("/v1/references/drift_eta/eta_v1?name=last_year", new StringContent(
                   """{"from":"2020-01-01T00:00:00Z","to":"2020-01-02T00:00:00Z"}""", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        }

        // --- Deleted: gone from the list, and its drift series from the exposition ---
        using (var deleted = await http.DeleteAsync("/v1/references/drift_eta/eta_v1?name=training"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        Assert.Equal(["yesterday"], (await http.GetFromJsonAsync<JsonElement>("/v1/references/drift_eta/eta_v1")).GetProperty("references")
            .EnumerateArray().Select(r => r.GetProperty("name").GetString()));
        await Eventually.UntilAsync(async () => !(await http.GetStringAsync("/metrics/statistics")).Contains("reference=\"training\"", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "the drift series gone after the reference was deleted");
        using var again = await http.DeleteAsync("/v1/references/drift_eta/eta_v1?name=training");
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
    }

    /// <summary>A body of unknown length (sent chunked): only Kestrel's limit can stop it.</summary>
    private sealed class NonSeekable(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();
    }

    private static void AssertClose(double expected, double? actual)
    {
        Assert.True(actual is { } value && Math.Abs(value - expected) <= 1e-9 * Math.Max(1, Math.Abs(expected)), $"{actual}, expected {expected}");
    }

    private static void AssertSample(string text, string series, double expected)
    {
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        Assert.True(line is not null, $"{series} is not in the exposition");
        var value = double.Parse(line![(series.Length + 1)..], CultureInfo.InvariantCulture);
        Assert.True(Math.Abs(value - expected) <= 1e-9 * Math.Max(1, Math.Abs(expected)), $"{series}: {value}, expected {expected}");
    }
}
