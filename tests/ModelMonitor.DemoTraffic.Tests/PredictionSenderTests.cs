using Microsoft.AspNetCore.Http;
using ModelMonitor.Core.Contracts;
using ModelMonitor.DemoTraffic.Scenarios;
using ModelMonitor.DemoTraffic.Sending;

namespace ModelMonitor.DemoTraffic.Tests;

public sealed class PredictionSenderTests : IDisposable
{
    private readonly string _ledgerPath = Path.Combine(Path.GetTempPath(), $"ledger-{Guid.NewGuid():N}.txt");

    private static readonly SenderPolicy FastRetries = SenderPolicy.Default with
    {
        InitialBackoff = TimeSpan.FromMilliseconds(20),
        MaxBackoff = TimeSpan.FromMilliseconds(100),
        MaxTransientRetries = 3,
    };

    public void Dispose() => File.Delete(_ledgerPath);

    [Fact]
    public async Task A_503_with_Retry_After_is_waited_out_and_the_whole_batch_resent_once()
    {
        await using var api = await FakeIngestionApi.StartAsync((number, ids) => number == 1
            ? FakeIngestionApi.Unavailable(retryAfterSeconds: 1)
            : Results.Json(new { accepted = ids.Count, rejected = 0, errors = Array.Empty<object>() }, statusCode: 202));
        var batch = Batch(20);
        var counters = new TrafficCounters();

        await SendAsync(api, batch, counters);

        var requests = api.Requests.ToArray();
        Assert.Equal(2, requests.Length);
        Assert.Equal(requests[0].Ids, requests[1].Ids);
        Assert.True(requests[1].At - requests[0].At >= TimeSpan.FromMilliseconds(900), $"resent after {(requests[1].At - requests[0].At).TotalMilliseconds} ms");
        Assert.Equal(20, counters.Acknowledged);
        Assert.Equal(1, counters.Throttled);
        Assert.Equal(batch.Select(r => r.PredictionId), File.ReadAllLines(_ledgerPath));
    }

    [Fact]
    public async Task Records_listed_as_retryable_are_resent_alone_and_acknowledged_ones_never()
    {
        await using var api = await FakeIngestionApi.StartAsync((number, ids) => number == 1
            ? Results.Json(
                new
                {
                    accepted = ids.Count - 2,
                    rejected = 2,
                    errors = new object[]
                    {
                        new { index = 3, field = "", message = "queue full", retryable = true },
                        new { index = 5, field = "features.x", message = "too long", retryable = false },
                    },
                },
                statusCode: 202)
            : Results.Json(new { accepted = ids.Count, rejected = 0, errors = Array.Empty<object>() }, statusCode: 202));
        var batch = Batch(10);
        var counters = new TrafficCounters();

        await SendAsync(api, batch, counters);

        var requests = api.Requests.ToArray();
        Assert.Equal(2, requests.Length);
        Assert.Equal([batch[3].PredictionId], requests[1].Ids);
        Assert.Equal(9, counters.Acknowledged);
        Assert.Equal(1, counters.Rejected);
        var ledger = File.ReadAllLines(_ledgerPath);
        Assert.Equal(9, ledger.Length);
        Assert.DoesNotContain(batch[5].PredictionId, ledger);
        Assert.Equal(batch.Where((_, i) => i != 5).Select(r => r.PredictionId).Order(), ledger.Order());
    }

    [Fact]
    public async Task A_5xx_is_retried_with_backoff_and_given_up_after_the_retry_limit()
    {
        await using var api = await FakeIngestionApi.StartAsync((_, _) => Results.StatusCode(500));
        var counters = new TrafficCounters();

        await SendAsync(api, Batch(5), counters);

        Assert.Equal(1 + FastRetries.MaxTransientRetries, api.Requests.Count);
        Assert.Equal(5, counters.GaveUp);
        Assert.Equal(0, counters.Acknowledged);
        Assert.Empty(File.ReadAllLines(_ledgerPath));
    }

    [Fact]
    public async Task A_413_splits_the_batch_until_it_fits()
    {
        await using var api = await FakeIngestionApi.StartAsync((_, ids) => ids.Count > 4
            ? Results.StatusCode(413)
            : Results.Json(new { accepted = ids.Count, rejected = 0, errors = Array.Empty<object>() }, statusCode: 202));
        var batch = Batch(16);
        var counters = new TrafficCounters();

        await SendAsync(api, batch, counters);

        Assert.Equal(16, counters.Acknowledged);
        Assert.Equal(batch.Select(r => r.PredictionId).Order(), File.ReadAllLines(_ledgerPath).Order());
    }

    private async Task SendAsync(FakeIngestionApi api, IReadOnlyList<PredictionLog> batch, TrafficCounters counters)
    {
        using var http = IngestionHttpClient.Create(2, TimeSpan.FromSeconds(10));
        using (var ledger = new AcknowledgementLedger(_ledgerPath, includeModel: false))
        {
            var sender = new PredictionSender(http, api.Url, PayloadFormat.Json, counters, ledger, FastRetries);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await sender.SendAsync(batch, timeout.Token, timeout.Token);
        }
    }

    // Fraud-only records: one record per prediction_id, so ids identify records.
    private static List<PredictionLog> Batch(int count)
    {
        var generator = new TrafficGenerator(1, "snd", IncidentSchedule.None);
        var fraud = DemoScenarios.All.Single(s => s.PredictorName == DemoScenarios.FraudPredictor);
        var records = new List<PredictionLog>();
        for (var i = 0; i < count; i++)
        {
            generator.Next(fraud, DateTimeOffset.UtcNow, new DayPhase(0.5), null, records);
        }

        return records;
    }
}
