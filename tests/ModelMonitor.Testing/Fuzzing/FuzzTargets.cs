using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ModelMonitor.Testing.Fuzzing;

/// <summary>
/// One endpoint the fuzzer attacks: its method and path, the content types it takes, a generator of valid bodies
/// (mutated by <see cref="RequestMutator"/>) and, for a write endpoint, how many records a 2xx answer says it stored.
/// </summary>
public sealed record FuzzTarget(
    string Name,
    HttpMethod Method,
    string Path,
    IReadOnlyList<string> ContentTypes,
    Func<Random, DateTimeOffset, string, byte[]> ValidBody,
    Func<string, long>? StoredRecords = null);

/// <summary>
/// Every endpoint under fuzz. A new endpoint (outcomes, references, registry, keys, console) is added here as it
/// lands, with a generator of its valid bodies: the fuzz test and the long fuzz command then cover it.
/// </summary>
public static class FuzzTargets
{
    public static FuzzTarget Predictions { get; } = new(
        "predictions",
        HttpMethod.Post,
        "/v1/predictions",
        ["application/json", "application/x-ndjson"],
        PredictionBody,
        body => JsonDocument.Parse(body).RootElement.GetProperty("accepted").GetInt64());

    public static FuzzTarget Health { get; } = new("healthz", HttpMethod.Get, "/healthz", [], (_, _, _) => []);

    public static FuzzTarget Metrics { get; } = new("metrics", HttpMethod.Get, "/metrics", [], (_, _, _) => []);

    /// <summary>A training reference upload (CSV or NDJSON; the API needs Postgres for it, else 503).</summary>
    public static FuzzTarget References { get; } = new(
        "references",
        HttpMethod.Post,
        "/v1/references/fuzz_reference/m1?name=training",
        ["text/csv", "application/x-ndjson"],
        ReferenceBody);

    /// <summary>Actual outcomes (numbers, labels, booleans), the predictions' body formats.</summary>
    public static FuzzTarget Outcomes { get; } = new(
        "outcomes",
        HttpMethod.Post,
        "/v1/outcomes",
        ["application/json", "application/x-ndjson"],
        OutcomeBody,
        body => JsonDocument.Parse(body).RootElement.GetProperty("accepted").GetInt64());

    /// <summary>A predictor's registration (the registry needs Postgres, else 503).</summary>
    public static FuzzTarget Registry { get; } = new(
        "registry",
        HttpMethod.Put,
        "/v1/predictors/fuzz_registry",
        ["application/json"],
        RegistrationBody);

    /// <summary>A registered model of that predictor.</summary>
    public static FuzzTarget RegistryModel { get; } = new(
        "registry model",
        HttpMethod.Put,
        "/v1/predictors/fuzz_registry/models/m1",
        ["application/json"],
        ModelRegistrationBody);

    public static IReadOnlyList<FuzzTarget> Api { get; } = [Predictions, Outcomes, Health, Metrics, References, Registry, RegistryModel];

    private static byte[] RegistrationBody(Random random, DateTimeOffset now, string predictor)
    {
        var shadows = string.Join(',', Enumerable.Range(0, random.Next(3)).Select(i => $"\"m{i + 2}\""));
        var age = random.Next(3) switch { 0 => "\"30d\"", 1 => "\"12h\"", _ => "null" };
        return Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"{{\"primary_model_id\":\"m1\",\"shadow_model_ids\":[{shadows}],\"team\":\"fuzz\",\"labels\":{{\"tier\":\"{random.Next(3)}\"}},\"max_model_age\":{age}}}"));
    }

    private static byte[] ModelRegistrationBody(Random random, DateTimeOffset now, string predictor)
    {
        var trained = now.AddDays(-1 - random.Next(60));
        return Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"{{\"trained_at\":\"{trained.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}\",\"training_data_end\":\"{trained.AddDays(-1).UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}\",\"version_info\":{{\"git\":\"{random.Next():x}\"}}}}"));
    }

    /// <summary>A JSON array of 1-20 valid outcomes (the mutator turns it into NDJSON or breaks it).</summary>
    private static byte[] OutcomeBody(Random random, DateTimeOffset now, string predictor)
    {
        var records = new List<string>();
        for (var i = 0; i < 1 + random.Next(20); i++)
        {
            var actual = random.Next(3) switch
            {
                0 => (random.NextDouble() * 50).ToString("R", CultureInfo.InvariantCulture),
                1 => $"\"{Markets[random.Next(Markets.Length)]}\"",
                _ => random.Next(2) == 0 ? "true" : "false",
            };
            records.Add(string.Create(CultureInfo.InvariantCulture,
                $"{{\"prediction_id\":\"f-{random.Next(1_000_000)}\",\"predictor_name\":\"{predictor}\",\"actual\":{actual},\"observed_at\":\"{now.AddSeconds(-random.Next(86_400)).UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}\"}}"));
        }
        return Encoding.UTF8.GetBytes($"[{string.Join(',', records)}]");
    }

    /// <summary>A small valid reference: CSV rows (header, numbers, categories, booleans, an empty cell, NaN) or NDJSON
    /// records shaped like prediction logs (the mutator picks the content type).</summary>
    private static byte[] ReferenceBody(Random random, DateTimeOffset now, string predictor)
    {
        var rows = 1 + random.Next(20);
        if (random.Next(2) == 0)
        {
            var csv = new StringBuilder("distance_km,market,is_new,prediction_result\n");
            for (var i = 0; i < rows; i++)
            {
                var distance = random.Next(10) == 0 ? "NaN" : (random.NextDouble() * 20).ToString("R", CultureInfo.InvariantCulture);
                csv.Append(CultureInfo.InvariantCulture, $"{distance},\"{Markets[random.Next(Markets.Length)]}\",{(random.Next(2) == 0 ? "True" : "false")},")
                    .Append(random.Next(5) == 0 ? "" : (random.NextDouble() * 40).ToString("R", CultureInfo.InvariantCulture)).Append('\n');
            }

            return Encoding.UTF8.GetBytes(csv.ToString());
        }

        return Encoding.UTF8.GetBytes(string.Join("\n", Enumerable.Range(0, rows).Select(_ => PredictionRecord(random, now, predictor))) + "\n");
    }

    private static readonly string[] Markets = ["paris", "lyon", "tokyo", "Zürich", "東京"];

    /// <summary>A batch of 1-4 valid prediction logs of the predictor <paramref name="predictor"/>: one object, an array, or NDJSON
    /// (chosen by the content type the mutator picks; an array or object for JSON, lines when the first byte says so).</summary>
    private static byte[] PredictionBody(Random random, DateTimeOffset now, string predictor)
    {
        var records = Enumerable.Range(0, 1 + random.Next(4)).Select(_ => PredictionRecord(random, now, predictor)).ToList();
        var text = random.Next(3) switch
        {
            0 => records[0],
            1 => "[" + string.Join(",", records) + "]",
            _ => string.Join("\n", records) + "\n",
        };
        return Encoding.UTF8.GetBytes(text);
    }

    private static string PredictionRecord(Random random, DateTimeOffset now, string predictor)
    {
        var sentAt = now.AddSeconds(-random.Next(0, 3_000)).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        var features = new List<string>
        {
            $"\"distance_km\":{(random.NextDouble() * 20).ToString("R", CultureInfo.InvariantCulture)}",
            $"\"market\":\"{Markets[random.Next(Markets.Length)]}\"",
            $"\"is_new\":{(random.Next(2) == 0 ? "true" : "false")}",
            $"\"tenure_months\":{random.Next(0, 120).ToString(CultureInfo.InvariantCulture)}",
        };
        if (random.Next(4) == 0)
        {
            features.Add("\"promo\":null");
        }
        var defaults = random.Next(5) == 0 ? ",\"default_values_used\":[\"tenure_months\"]" : "";
        var id = random.NextInt64().ToString(CultureInfo.InvariantCulture);
        var result = (random.NextDouble() * 40).ToString("R", CultureInfo.InvariantCulture);
        return $"{{\"sent_at\":\"{sentAt}\",\"prediction_id\":\"{id}\",\"predictor_name\":\"{predictor}\",\"model_id\":\"{predictor}_v{random.Next(1, 3)}\"," +
            $"\"features\":{{{string.Join(",", features)}}},\"prediction_result\":{result}{defaults}}}";
    }
}
