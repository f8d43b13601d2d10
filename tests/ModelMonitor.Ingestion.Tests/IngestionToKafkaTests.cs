using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Testing.Kafka;

namespace ModelMonitor.Ingestion.Tests;

[Trait("Speed", "Slow")]
public sealed class IngestionToKafkaTests(KafkaMockCluster kafka) : IClassFixture<KafkaMockCluster>
{
    private static string Now(int secondsAgo = 0) =>
        DateTimeOffset.UtcNow.AddSeconds(-secondsAgo).ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture);

    private static StringContent Json(string body, string type = "application/json") =>
        new(body, Encoding.UTF8, new MediaTypeHeaderValue(type));

    [Fact]
    public async Task Accepted_records_of_a_batch_arrive_in_Kafka_exactly_with_their_content()
    {
        await using var api = IngestionApiFactory.For(kafka);
        using var client = api.CreateClient();
        var body = $$"""
        [
          {"sent_at":"{{Now(60)}}","prediction_id":"p-1","predictor_name":"eta","model_id":"eta_v1",
           "features":{"distance_km":3.5,"market":"paris","is_new":true,"promo":null,"risk":NaN},
           "prediction_result":17.25,"default_values_used":["promo"]},
          {"sent_at":"{{Now(30)}}","prediction_id":"p-2","predictor_name":"eta","model_id":"eta_v1",
           "features":{"distance_km":-Infinity},"prediction_result":Infinity},
          {"sent_at":"{{Now()}}","prediction_id":"p-3","predictor_name":"eta","model_id":"",
           "features":{},"prediction_result":1}
        ]
        """;

        using var response = await client.PostAsync("/v1/predictions", Json(body));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        using var result = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(2, result.RootElement.GetProperty("accepted").GetInt32());
        Assert.Equal(1, result.RootElement.GetProperty("rejected").GetInt32());
        var error = Assert.Single(result.RootElement.GetProperty("errors").EnumerateArray());
        Assert.Equal(2, error.GetProperty("index").GetInt32());
        Assert.Equal("model_id", error.GetProperty("field").GetString());
        Assert.False(error.GetProperty("retryable").GetBoolean());

        var records = kafka.ReadRecords(api.Topic, expected: 2, TimeSpan.FromSeconds(20));
        Assert.Equal(2, records.Count);
        var logs = records.Select(r => r.Log).OrderBy(l => l.PredictionId).ToList();
        Assert.Equal(["p-1", "p-2"], logs.Select(l => l.PredictionId));
        // Each record sits on the partition of its prediction_id (the mock topic has 4); messages carry no key.
        Assert.All(records, r => Assert.Equal(PredictionPartitioner.PartitionOf(r.Log.PredictionId, 4), r.Message.Partition.Value));
        Assert.All(records, r => Assert.Null(r.Message.Message.Key));

        var first = logs[0];
        Assert.Equal("eta", first.PredictorName);
        Assert.Equal("eta_v1", first.ModelId);
        Assert.Equal(17.25, first.PredictionResult);
        Assert.Equal(["promo"], first.DefaultValuesUsed);
        var features = first.Features.ToDictionary(f => f.Key, f => f.Value);
        Assert.Equal(FeatureValue.FromNumber(3.5), features["distance_km"]);
        Assert.Equal(FeatureValue.FromString("paris"), features["market"]);
        Assert.Equal(FeatureValue.FromBoolean(true), features["is_new"]);
        Assert.True(features["promo"].IsNull);
        Assert.True(double.IsNaN(features["risk"].Number));
        Assert.Equal(double.NegativeInfinity, logs[1].Features[0].Value.Number);
        Assert.Equal(double.PositiveInfinity, logs[1].PredictionResult);
    }

    [Fact]
    public async Task Kafka_holds_each_record_as_sent_after_the_version_and_extra_fields_are_dropped()
    {
        await using var api = IngestionApiFactory.For(kafka);
        using var client = api.CreateClient();
        var plain = """{ "prediction_id":"v-1",""" + "\n" + $$""" "sent_at":"{{Now()}}","predictor_name":"eta","model_id":"m","features":{"x":NaN, "c":"caf\u00e9"},"prediction_result":1}""";
        var extra = $$$"""{"prediction_id":"v-2","sent_at":"{{{Now()}}}","predictor_name":"eta","model_id":"m","features":{"x":2},"prediction_result":1,"trace":{"span":[1,2]}}""";

        using var response = await client.PostAsync("/v1/predictions", Json($"[{plain},\n{extra}]"));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var values = kafka.ReadAll(api.Topic, expected: 1, TimeSpan.FromSeconds(20))
            .SelectMany(m => Encoding.UTF8.GetString(m.Message.Value).Split('\n'))
            .ToDictionary(line => line.Contains("\"v-1\"", StringComparison.Ordinal) ? "v-1" : "v-2");
        Assert.Equal(2, values.Count);
        Assert.Equal("{\"v\":1, " + plain[2..].Replace('\n', ' '), values["v-1"]);
        Assert.StartsWith("{\"v\":1,\"sent_at\":", values["v-2"], StringComparison.Ordinal);
        Assert.DoesNotContain("trace", values["v-2"], StringComparison.Ordinal);
        Assert.True(PredictionLogCodec.TryDecode(Encoding.UTF8.GetBytes(values["v-1"]), out var log, out var error), error);
        Assert.Equal("café", log.Features[1].Value.Text);
    }

    [Fact]
    public async Task NDJSON_bodies_are_accepted_line_by_line()
    {
        await using var api = IngestionApiFactory.For(kafka);
        using var client = api.CreateClient();
        var lines = string.Join("\n", Enumerable.Range(0, 50).Select(i =>
            $$"""{"sent_at":"{{Now()}}","prediction_id":"n-{{i}}","predictor_name":"fraud","model_id":"gbm","features":{"amount":{{i}}},"prediction_result":0.{{i}}}"""));

        using var response = await client.PostAsync("/v1/predictions", Json(lines + "\n", "application/x-ndjson"));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var records = kafka.ReadRecords(api.Topic, expected: 50, TimeSpan.FromSeconds(20));
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"n-{i}").Order(), records.Select(r => r.Log.PredictionId).Order());
    }

    [Fact]
    public async Task A_requests_records_travel_as_one_message_per_partition_placed_as_Kafkas_murmur2_partitioner_places_their_ids()
    {
        await using var api = IngestionApiFactory.For(kafka);
        using var client = api.CreateClient();
        var ids = Enumerable.Range(0, 300).Select(i => $"order-{i * 7919}-é").ToList();
        var body = "[" + string.Join(",", ids.Select(id =>
            $$"""{"sent_at":"{{Now()}}","prediction_id":"{{id}}","predictor_name":"eta","model_id":"m","features":{"x":1},"prediction_result":1}""")) + "]";

        using var response = await client.PostAsync("/v1/predictions", Json(body));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        var records = kafka.ReadRecords(api.Topic, expected: 300, TimeSpan.FromSeconds(20));
        Assert.Equal(ids.Order(), records.Select(r => r.Log.PredictionId).Order());
        var messages = records.GroupBy(r => r.Message.TopicPartitionOffset).ToList();
        Assert.Equal(4, messages.Count);
        Assert.Equal(4, messages.Select(m => m.Key.Partition.Value).Distinct().Count());
        foreach (var message in messages)
        {
            // Request order is kept within a message.
            Assert.Equal(ids.Where(message.Select(r => r.Log.PredictionId).Contains), message.Select(r => r.Log.PredictionId));
        }

        // The same ids as keys, placed by librdkafka's own murmur2 partitioner on a topic of the same partition count.
        var keyed = KafkaMockCluster.UniqueTopic("keyed");
        kafka.Produce(keyed, ids.Select(id => ((byte[]?)Encoding.UTF8.GetBytes(id), Encoding.UTF8.GetBytes(id))), Confluent.Kafka.Partitioner.Murmur2);
        var librdkafka = kafka.ReadAll(keyed, expected: 300, TimeSpan.FromSeconds(20))
            .ToDictionary(m => Encoding.UTF8.GetString(m.Message.Value), m => m.Partition.Value);
        Assert.Equal(300, librdkafka.Count);
        Assert.All(records, r => Assert.Equal(librdkafka[r.Log.PredictionId], r.Message.Partition.Value));
    }

    /// <summary>A small record, then one with ten (or more) 1,000-character string features.</summary>
    private static string SmallThenBig(string smallId, string bigId, int bigFeatures) =>
        $$"""
        [{"sent_at":"{{Now()}}","prediction_id":"{{smallId}}","predictor_name":"p","model_id":"m","features":{"x":1},"prediction_result":1},
         {"sent_at":"{{Now()}}","prediction_id":"{{bigId}}","predictor_name":"p","model_id":"m","features":{{{BigFeatures(bigFeatures)}}},"prediction_result":1}]
        """;

    private static string BigFeatures(int count) =>
        string.Join(",", Enumerable.Range(0, count).Select(i => $"\"f{i}\":\"{new string('x', 1000)}\""));

    /// <summary>Asserts a 202 that accepted the first record and refused the second for good, saying <paramref name="why"/>.</summary>
    private static async Task AssertSecondRefusedAsync(HttpResponseMessage response, string why)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, text);
        using var result = JsonDocument.Parse(text);
        Assert.Equal(1, result.RootElement.GetProperty("accepted").GetInt32());
        Assert.Equal(1, result.RootElement.GetProperty("rejected").GetInt32());
        var error = Assert.Single(result.RootElement.GetProperty("errors").EnumerateArray());
        Assert.Equal(1, error.GetProperty("index").GetInt32());
        Assert.False(error.GetProperty("retryable").GetBoolean());
        Assert.Contains(why, error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_record_too_large_for_a_Kafka_message_is_refused_for_good_and_the_others_are_written()
    {
        await using var api = IngestionApiFactory.For(kafka, new Dictionary<string, string?> { ["Kafka:MaxMessageBytes"] = "16384" });
        using var client = api.CreateClient();

        using var response = await client.PostAsync("/v1/predictions", Json(SmallThenBig("small", "big", bigFeatures: 20)));

        await AssertSecondRefusedAsync(response, "Kafka:MaxMessageBytes");
        Assert.Equal(["small"], kafka.ReadRecords(api.Topic, expected: 1, TimeSpan.FromSeconds(20)).Select(r => r.Log.PredictionId));
        Assert.Contains("modelmonitor_ingest_predictions_rejected_total{reason=\"too_large_for_kafka\"} 1\n",
            await client.GetStringAsync("/metrics"), StringComparison.Ordinal);

        // Alone, it gets a 400 that says why.
        using var alone = await client.PostAsync("/v1/predictions", Json($$"""{"sent_at":"{{Now()}}","prediction_id":"big","predictor_name":"p","model_id":"m","features":{{{BigFeatures(20)}}},"prediction_result":1}"""));
        Assert.Equal(HttpStatusCode.BadRequest, alone.StatusCode);
        Assert.Contains("too large", await alone.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_message_over_Kafkas_own_size_limit_is_refused_for_good_and_the_other_partitions_messages_are_written()
    {
        // librdkafka's limit below Kafka:MaxMessageBytes (a misconfiguration): the big record's message is refused at
        // produce time, the small record on another partition still goes through.
        await using var api = IngestionApiFactory.For(kafka, new Dictionary<string, string?> { ["Kafka:Client:message.max.bytes"] = "8000" });
        using var client = api.CreateClient();
        var ids = Enumerable.Range(0, 50).Select(i => $"limit-{i}").ToList();
        var bigId = ids.First(id => PredictionPartitioner.PartitionOf(id, 4) == 0);
        var smallId = ids.First(id => PredictionPartitioner.PartitionOf(id, 4) != 0);

        using var response = await client.PostAsync("/v1/predictions", Json(SmallThenBig(smallId, bigId, bigFeatures: 10)));

        await AssertSecondRefusedAsync(response, "message.max.bytes");
        Assert.Equal([smallId], kafka.ReadRecords(api.Topic, expected: 1, TimeSpan.FromSeconds(20)).Select(r => r.Log.PredictionId));
    }

    [Fact]
    public async Task A_rejected_request_writes_nothing_to_Kafka()
    {
        await using var api = IngestionApiFactory.For(kafka);
        using var client = api.CreateClient();
        var body = $$"""[{"sent_at":"{{Now()}}","prediction_id":"ok","predictor_name":"p","model_id":"m","features":{},"prediction_result":1}, {"sent_at": ]""";

        using var malformed = await client.PostAsync("/v1/predictions", Json(body));
        using var allInvalid = await client.PostAsync("/v1/predictions", Json("""{"prediction_id":"x"}"""));

        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, allInvalid.StatusCode);
        Assert.Empty(kafka.ReadAll(api.Topic, expected: 0, TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public async Task Kafka_unreachable_gives_503_with_Retry_After_within_the_delivery_timeout()
    {
        // Nothing listens on this port: every delivery fails once the timeout passes.
        var topic = KafkaMockCluster.UniqueTopic();
        await using var api = new IngestionApiFactory("127.0.0.1:9", topic, new Dictionary<string, string?>
        {
            ["Kafka:DeliveryTimeout"] = "00:00:02",
        });
        using var client = api.CreateClient();
        var body = $$"""{"sent_at":"{{Now()}}","prediction_id":"x","predictor_name":"p","model_id":"m","features":{},"prediction_result":1}""";
        var started = System.Diagnostics.Stopwatch.StartNew();

        using var response = await client.PostAsync("/v1/predictions", Json(body));
        var elapsed = started.Elapsed;
        var text = await response.Content.ReadAsStringAsync();
        var what = $"HTTP {(int)response.StatusCode} after {elapsed}, Retry-After {response.Headers.RetryAfter}: {text}";

        Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, what);
        Assert.True(elapsed < TimeSpan.FromSeconds(10), what);
        Assert.True(response.Headers.RetryAfter?.Delta == TimeSpan.FromSeconds(2), what);
        Assert.Contains("retry", text, StringComparison.OrdinalIgnoreCase);

        using var ready = await client.GetAsync("/readyz");
        Assert.True(ready.StatusCode == HttpStatusCode.ServiceUnavailable, $"/readyz: HTTP {(int)ready.StatusCode} {await ready.Content.ReadAsStringAsync()}");
        using var alive = await client.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
    }

    [Fact]
    public async Task Ready_once_Kafka_is_reachable_and_metrics_count_what_happened()
    {
        await using var api = IngestionApiFactory.For(kafka);
        using var client = api.CreateClient();
        var body = $$"""[{"sent_at":"{{Now()}}","prediction_id":"a","predictor_name":"p","model_id":"m","features":{},"prediction_result":1},{"sent_at":"2001-01-01T00:00:00Z","prediction_id":"b","predictor_name":"p","model_id":"m","features":{},"prediction_result":1}]""";
        using var response = await client.PostAsync("/v1/predictions", Json(body));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        HttpStatusCode readiness = default;
        for (var i = 0; i < 50 && readiness != HttpStatusCode.OK; i++)
        {
            using var ready = await client.GetAsync("/readyz");
            readiness = ready.StatusCode;
            await Task.Delay(100);
        }
        Assert.Equal(HttpStatusCode.OK, readiness);

        var metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("modelmonitor_ingest_predictions_accepted_total 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("modelmonitor_ingest_predictions_rejected_total{reason=\"timestamp_too_old\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("http_requests_received_total{code=\"202\",method=\"POST\",controller=\"\",action=\"\",endpoint=\"/v1/predictions\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("modelmonitor_kafka_delivery_duration_seconds_count 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("process_working_set_bytes ", metrics, StringComparison.Ordinal);
    }
}
