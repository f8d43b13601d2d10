using System.Diagnostics;
using System.Net;
using System.Text;
using ModelMonitor.Testing.Metrics;
using ModelMonitor.Testing.Waiting;

namespace ModelMonitor.Reliability.Tests;

/// <summary>
/// Bodies being received hold memory, never processing permits, and that memory is bounded: clients that
/// announce maximal bodies and then stall fill Ingestion:MaxBufferedBodyBytes (default 256 MiB: sixteen
/// 10 MiB bodies, each in a 16 MiB pooled buffer); the next request gets 429 + Retry-After at once, and the
/// memory is given back when those clients are cut off. Its own API process (an IClassFixture per class),
/// so the pooled buffers do not weigh on the RSS checks of the other hostile-input tests.
/// </summary>
[Trait("Speed", "Slow")]
public sealed class BodyBudgetTests(HostileApiFixture api) : IClassFixture<HostileApiFixture>
{
    private const int MaxBodyBytes = 10 * 1024 * 1024;

    [Fact]
    public async Task Stalled_maximal_bodies_fill_the_memory_budget_and_further_requests_get_429_until_it_is_released()
    {
        var clock = Stopwatch.StartNew();
        var stalled = new List<RawHttpConnection>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            for (var i = 0; i < 16; i++)
            {
                var connection = await RawHttpConnection.OpenAsync(api.Port);
                connection.StartReading(clock);
                Assert.True(await connection.TrySendAsync(
                    $"POST /v1/predictions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {MaxBodyBytes}\r\n\r\n["));
                stalled.Add(connection);
            }
            // The server has taken the requests once it holds a buffer of at least the declared length for each.
            await Eventually.UntilAsync(async () => Exposition.Sample(await http.GetStringAsync(new Uri(Services.Url(api.Port), "metrics")), "modelmonitor_ingest_buffered_body_bytes") >= (double)stalled.Count * MaxBodyBytes,
                TimeSpan.FromSeconds(10), () => $"the API to reserve buffers for all {stalled.Count} stalled requests");

            var started = clock.Elapsed;
            using var refused = await http.PostAsync(new Uri(Services.Url(api.Port), "v1/predictions"), Valid());
            var refusedAfter = clock.Elapsed - started;

            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.NotNull(refused.Headers.RetryAfter);
            Assert.Contains("request bodies in memory", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.True(refusedAfter < TimeSpan.FromSeconds(1), $"the 429 took {refusedAfter}");

            // Once the stalled clients go away (here: they hang up; Kestrel's minimum data rate would cut them
            // off after its grace period), the budget is back and requests are served again.
            foreach (var connection in stalled)
            {
                connection.Dispose();
            }
            await Eventually.UntilAsync(async () =>
            {
                using var response = await http.PostAsync(new Uri(Services.Url(api.Port), "v1/predictions"), Valid());
                return response.StatusCode == HttpStatusCode.Accepted;
            }, TimeSpan.FromSeconds(15), () => "requests were not accepted again after the stalled clients left");
            var metrics = await http.GetStringAsync(new Uri(Services.Url(api.Port), "metrics"));
            Assert.Contains("modelmonitor_ingest_buffered_body_bytes 0\n", metrics, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var connection in stalled)
            {
                connection.Dispose();
            }
        }
    }

    private static StringContent Valid() => new(
        $$"""[{"sent_at":"{{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ}}","prediction_id":"{{Guid.NewGuid():N}}","predictor_name":"budget","model_id":"m1","features":{"x":1.5},"prediction_result":2}]""",
        Encoding.UTF8, "application/json");
}
