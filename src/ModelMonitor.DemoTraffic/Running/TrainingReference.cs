using System.Globalization;
using System.Net.Http.Headers;
using ModelMonitor.Core.Contracts;
using ModelMonitor.DemoTraffic.Scenarios;
using ModelMonitor.DemoTraffic.Sending;

namespace ModelMonitor.DemoTraffic.Running;

/// <summary>
/// The demo's training set: records of the ETA primary model drawn by the same generator as its traffic, over a whole
/// day and without incidents, uploaded as NDJSON to POST /v1/references/eta_prediction/eta_v12?name=training before the
/// traffic starts, so the drift incidents (unit change, gradual drift, prediction shift) are judged against it.
/// </summary>
public static class TrainingReference
{
    public const int Records = 20_000;

    /// <summary>The records: times of day over a whole day, the primary model's only.</summary>
    public static List<PredictionLog> Generate(int seed)
    {
        var generator = new TrafficGenerator(seed + 7_919, "training", IncidentSchedule.None);
        var eta = generator.Scenarios.Single(s => s.PrimaryModelId == DemoScenarios.EtaPrimaryModel);
        var records = new List<PredictionLog>(Records);
        var batch = new List<PredictionLog>();
        var sentAt = DateTimeOffset.UtcNow.AddDays(-30);
        // Times of day drawn at random, not in order: the reference's chunks (its thresholds) then differ by sampling
        // noise, not by the daily rhythm a file sorted by time would put between them.
        var phases = new Random(seed);
        for (var i = 0; i < Records; i++)
        {
            batch.Clear();
            generator.Next(eta, sentAt.AddSeconds(i), new DayPhase(phases.NextDouble()), null, batch);
            records.Add(batch[0]);
        }

        return records;
    }

    /// <summary>Uploads it; says what happened (a failure is reported, not fatal: the demo runs without it).</summary>
    public static async Task UploadAsync(HttpClient http, Uri api, int seed, TextWriter output, CancellationToken cancellationToken)
    {
        var url = new Uri(api, $"v1/references/{DemoScenarios.EtaPredictor}/{DemoScenarios.EtaPrimaryModel}?name=training");
        using var content = new ByteArrayContent(PredictionPayloadWriter.ToBytes(Generate(seed), PayloadFormat.Ndjson));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-ndjson");
        try
        {
            using var response = await http.PostAsync(url, content, cancellationToken);
            await output.WriteLineAsync(response.IsSuccessStatusCode
                ? string.Create(CultureInfo.InvariantCulture, $"training reference: {Records} records of {DemoScenarios.EtaPrimaryModel} uploaded to {url} ({(int)response.StatusCode})")
                : $"training reference: not uploaded ({(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}); drift is measured against the production reference only");
        }
        catch (HttpRequestException e)
        {
            await output.WriteLineAsync($"training reference: not uploaded ({e.Message}); drift is measured against the production reference only");
        }
    }
}
