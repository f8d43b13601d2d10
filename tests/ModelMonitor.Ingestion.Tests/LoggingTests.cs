using System.Globalization;
using System.Text;
using System.Text.Json;
using ModelMonitor.Testing.Processes;
using ModelMonitor.Testing.Waiting;

namespace ModelMonitor.Ingestion.Tests;

/// <summary>The service's console log as an operator reads it: the real process, its real stdout.</summary>
public sealed class LoggingTests
{
    [Fact]
    public async Task With_Logging_Json_each_line_is_compact_JSON_and_each_request_one_line_by_route_template()
    {
        var port = ChildProcess.FreePort();
        using var api = ChildProcess.StartDotnet("ingestion", "ModelMonitor.Ingestion", new Dictionary<string, string?>
        {
            ["Logging:Json"] = "true",
            ["Kafka:BootstrapServers"] = "127.0.0.1:9", // nothing there: the request below is refused before Kafka
            ["Auth:Mode"] = "None",
            ["Kafka:CreateTopic"] = "false",
            ["Urls"] = $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
        }, keepAllOutput: true);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}") };
        await Eventually.UntilAsync(async () => (await http.GetAsync("/healthz")).IsSuccessStatusCode, TimeSpan.FromSeconds(30), () => $"the API to start:\n{api.Output()}");

        using var refused = await http.PostAsync("/v1/predictions", new StringContent("{broken", Encoding.UTF8, "application/json"));
        Assert.Equal(400, (int)refused.StatusCode);

        JsonElement? request = null;
        await Eventually.UntilAsync(() =>
        {
            request = api.AllOutput().Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement.Clone())
                .Where(e => e.TryGetProperty("RoutePattern", out _)).Cast<JsonElement?>().FirstOrDefault();
            return Task.FromResult(request is not null);
        }, TimeSpan.FromSeconds(10), () => $"a request line in the log:\n{api.Output()}");

        // Every line is a JSON object (startup lines included), with Serilog's compact members.
        var lines = api.AllOutput().Where(l => l.Length > 0).ToList();
        Assert.All(lines, l => Assert.True(JsonDocument.Parse(l).RootElement.TryGetProperty("@t", out _), l));
        var line = request!.Value;
        Assert.StartsWith("HTTP POST /v1/predictions responded 400 in ", line.GetProperty("@m").GetString(), StringComparison.Ordinal);
        Assert.Equal("/v1/predictions", line.GetProperty("RoutePattern").GetString());
        Assert.Equal(400, line.GetProperty("StatusCode").GetInt32());
        Assert.True(line.GetProperty("Elapsed").GetDouble() >= 0);
        // 4xx at Information: Serilog's compact form leaves @l out for Information.
        Assert.False(line.TryGetProperty("@l", out _));
    }
}
