using System.Diagnostics;
using System.Text;
using ModelMonitor.Testing.Kafka;
using ModelMonitor.Testing.Processes;
using ModelMonitor.Testing.Tools;
using ModelMonitor.Testing.Waiting;
using Xunit.Abstractions;

namespace ModelMonitor.Reliability.Tests;

/// <summary>The real API as a child process (real Kestrel, default limits) on a broker owned by the test.</summary>
public sealed class HostileApiFixture : IAsyncLifetime
{
    private ControllableKafkaCluster? _kafka;
    private ChildProcess? _api;

    public int Port { get; } = ChildProcess.FreePort();

    internal ChildProcess Api => _api ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync()
    {
        _kafka = new ControllableKafkaCluster();
        var topic = KafkaMockCluster.UniqueTopic("hostile");
        _kafka.CreateTopic(topic, 4);
        _api = await Services.StartApiAsync(Port, _kafka.BootstrapServers, topic);
    }

    public Task DisposeAsync()
    {
        _api?.Dispose();
        _kafka?.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>
/// Scenario 6: what the in-process bad-input suite (Ingestion.Tests/BadInputTests) cannot send through
/// WebApplicationFactory's in-memory server: slowloris bodies and headers, hundreds of slow connections at
/// once and oversized headers, against real Kestrel. Each is cut off or refused, the service keeps serving
/// others, and /metrics stays valid for promtool.
/// </summary>
[Trait("Speed", "Slow")]
public sealed class HostileInputTests(HostileApiFixture api, ITestOutputHelper output) : IClassFixture<HostileApiFixture>
{
    // Kestrel's defaults: MinRequestBodyDataRate 240 bytes/s after a 5 s grace period (checked about once a
    // second), RequestHeadersTimeout 30 s, MaxRequestHeadersTotalSize 32 KB, MaxRequestLineSize 8 KB.
    private static readonly TimeSpan BodyCutOff = TimeSpan.FromSeconds(12);
    private static readonly TimeSpan HeadersCutOff = TimeSpan.FromSeconds(40);

    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    [Fact]
    public async Task A_body_sent_a_byte_per_second_is_cut_off_while_other_clients_are_served()
    {
        var clock = Stopwatch.StartNew();
        using var slow = await RawHttpConnection.OpenAsync(api.Port);
        slow.StartReading(clock);
        Assert.True(await slow.TrySendAsync(PostHeaders(contentLength: 10_000)));
        var trickle = slow.TrickleAsync(new string(' ', 10_000), TimeSpan.FromSeconds(1), clock, BodyCutOff + TimeSpan.FromSeconds(5));

        var served = new List<(int Status, TimeSpan Latency)>();
        while (slow.ClosedAt is null && clock.Elapsed < BodyCutOff + TimeSpan.FromSeconds(5))
        {
            served.Add(await PostValidAsync());
            await Task.Delay(250);
        }

        await trickle;
        output.WriteLine($"slow body cut after {slow.ClosedAt?.TotalSeconds:0.0} s with '{FirstLine(slow.Received)}'; {served.Count} other requests meanwhile, max {served.Max(s => s.Latency).TotalMilliseconds:0} ms");
        Assert.NotNull(slow.ClosedAt);
        Assert.InRange(slow.ClosedAt.Value, TimeSpan.FromSeconds(3), BodyCutOff);
        Assert.True(slow.Status is null or 408 or 400, $"answer to the slow body: {FirstLine(slow.Received)}");
        Assert.All(served, s => Assert.True(s.Status == 202 && s.Latency < TimeSpan.FromSeconds(2), $"HTTP {s.Status} in {s.Latency}"));
        await AssertStillHealthyAsync();
    }

    [Fact]
    public async Task Hundreds_of_slow_connections_are_all_cut_off_and_the_service_keeps_answering()
    {
        const int SlowBodies = 200;
        const int SlowHeaders = 100;
        var clock = Stopwatch.StartNew();
        var connections = new List<RawHttpConnection>();
        var trickles = new List<Task>();
        try
        {
            for (var i = 0; i < SlowBodies + SlowHeaders; i++)
            {
                var connection = await RawHttpConnection.OpenAsync(api.Port);
                connection.StartReading(clock);
                connections.Add(connection);
                if (i < SlowBodies)
                {
                    Assert.True(await connection.TrySendAsync(PostHeaders(contentLength: 10_000)));
                    trickles.Add(connection.TrickleAsync(new string(' ', 10_000), TimeSpan.FromSeconds(1), clock, HeadersCutOff));
                }
                else
                {
                    // Classic slowloris: the request headers themselves, a byte per second, never finished.
                    trickles.Add(connection.TrickleAsync(PostHeaders(contentLength: 10) + new string('x', 10_000), TimeSpan.FromSeconds(1), clock, HeadersCutOff));
                }
            }

            // While they hold their connections: liveness at once, and a real client posting twice a second
            // (each request timed on its own, so one slow answer does not hide the others).
            var health = new List<TimeSpan>();
            var posts = new List<Task<(int Status, TimeSpan Latency)>>();
            while (clock.Elapsed < TimeSpan.FromSeconds(8))
            {
                var started = clock.Elapsed;
                using (var response = await _http.GetAsync(new Uri(Services.Url(api.Port), "healthz")))
                {
                    Assert.True(response.IsSuccessStatusCode);
                }

                health.Add(clock.Elapsed - started);
                posts.Add(PostValidAsync());
                await Task.Delay(500);
            }

            var bodies = connections.Take(SlowBodies).ToList();
            var headers = connections.Skip(SlowBodies).ToList();
            await Eventually.UntilAsync(() => Task.FromResult(bodies.All(c => c.ClosedAt is not null)), TimeSpan.FromSeconds(40),
                () => $"{bodies.Count(c => c.ClosedAt is null)} of {SlowBodies} slow bodies still connected after {clock.Elapsed}");
            var bodiesCut = bodies.Max(c => c.ClosedAt!.Value);
            await Eventually.UntilAsync(() => Task.FromResult(headers.All(c => c.ClosedAt is not null)), HeadersCutOff - clock.Elapsed + TimeSpan.FromSeconds(2),
                () => $"{headers.Count(c => c.ClosedAt is null)} of {SlowHeaders} slow-header connections still open after {clock.Elapsed}");
            var headersCut = headers.Max(c => c.ClosedAt!.Value);
            await Task.WhenAll(trickles);
            var answers = await Task.WhenAll(posts);
            output.WriteLine($"/healthz during the attack: max {health.Max().TotalMilliseconds:0} ms; valid POSTs (status/latency): {string.Join(", ", answers.Select(p => $"{p.Status}/{p.Latency.TotalMilliseconds:0}ms"))}");
            output.WriteLine($"all {SlowBodies} slow bodies cut by {bodiesCut.TotalSeconds:0.0} s, all {SlowHeaders} slow headers by {headersCut.TotalSeconds:0.0} s; answers: "
                + string.Join(", ", connections.GroupBy(c => c.Status?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "closed").Select(g => $"{g.Key}: {g.Count()}")));

            Assert.True(health.Max() < TimeSpan.FromSeconds(1), $"/healthz took {health.Max()} during the attack");
            Assert.All(answers, p => Assert.True(p.Status is 202 or 429, $"HTTP {p.Status} for a valid POST during the attack"));
            Assert.True(api.Api.ResidentBytes() < 400L * 1024 * 1024, $"RSS {api.Api.ResidentBytes()} after 300 slow connections");
            await AssertStillHealthyAsync();
            // Last, so the checks above still run. Other clients must get an answer (accepted, or 429 to retry
            // later) in reasonable time. Found: each slow body holds one of the 64 concurrency permits while
            // Kestrel waits for it (up to the 5 s grace period of MinRequestBodyDataRate), and the next 256 wait
            // in the limiter's queue, so 200 slow clients make a valid POST wait ~17 s.
            Assert.All(answers, p => Assert.True(p.Latency < TimeSpan.FromSeconds(2),
                $"a valid POST waited {p.Latency.TotalSeconds:0.0} s behind slow clients (HTTP {p.Status})"));
        }
        finally
        {
            foreach (var connection in connections)
            {
                connection.Dispose();
            }
        }
    }

    [Theory]
    [InlineData("one 100 KB header", 431)]
    [InlineData("2,000 headers", 431)]
    [InlineData("a 20 KB request line", 414)]
    public async Task Oversized_headers_and_request_lines_are_refused(string what, int expected)
    {
        var clock = Stopwatch.StartNew();
        using var connection = await RawHttpConnection.OpenAsync(api.Port);
        connection.StartReading(clock);
        var request = what switch
        {
            "one 100 KB header" => PostHeaders(10, $"X-Huge: {new string('a', 100_000)}\r\n"),
            "2,000 headers" => PostHeaders(10, string.Concat(Enumerable.Range(0, 2_000).Select(i => $"X-Header-{i}: {new string('b', 20)}\r\n"))),
            _ => $"POST /v1/predictions?{new string('q', 20_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
        };
        await connection.TrySendAsync(request);
        await Eventually.UntilAsync(() => Task.FromResult(connection.Status is not null || connection.ClosedAt is not null), TimeSpan.FromSeconds(10),
            () => $"no answer to {what}");
        await Eventually.UntilAsync(() => Task.FromResult(connection.Status is not null), TimeSpan.FromSeconds(2), () => $"closed without an answer to {what}: '{connection.Received}'");
        Assert.Equal(expected, connection.Status);
        await AssertStillHealthyAsync();
    }

    private static string PostHeaders(int contentLength, string extraHeaders = "") =>
        $"POST /v1/predictions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extraHeaders}Content-Length: {contentLength}\r\n\r\n";

    private static string FirstLine(string text) => text.Split("\r\n")[0];

    private async Task<(int Status, TimeSpan Latency)> PostValidAsync()
    {
        var body = $$"""[{"sent_at":"{{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ}}","prediction_id":"{{Guid.NewGuid():N}}","predictor_name":"hostile","model_id":"m1","features":{"x":1.5},"prediction_result":2}]""";
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        var clock = Stopwatch.StartNew();
        using var response = await _http.PostAsync(new Uri(Services.Url(api.Port), "v1/predictions"), content);
        return ((int)response.StatusCode, clock.Elapsed);
    }

    /// <summary>The process is alive, a valid POST is acknowledged, and /metrics passes promtool check metrics.</summary>
    private async Task AssertStillHealthyAsync()
    {
        Assert.False(api.Api.HasExited, api.Api.Output());
        var (status, _) = await PostValidAsync();
        Assert.Equal(202, status);
        var metrics = await _http.GetStringAsync(new Uri(Services.Url(api.Port), "metrics"));
        await Promtool.AssertValidMetricsAsync(metrics);
    }
}
