using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using ModelMonitor.Testing.Processes;

namespace ModelMonitor.Evaluation.Tests;

/// <summary>The all-in-one host as a child process (API, Kafka — embedded unless given —, aggregator with the evaluation
/// join, exporter) on a test's Postgres, with windows of one day and quick refreshes.</summary>
internal sealed partial class EvaluationHost : IDisposable
{
    private EvaluationHost(ChildProcess process, HttpClient http)
    {
        Process = process;
        Http = http;
    }

    public ChildProcess Process { get; }

    public HttpClient Http { get; }

    public static async Task<EvaluationHost> StartAsync(string connectionString, string? kafka = null, Dictionary<string, string?>? extra = null,
        bool waitUntilReady = true)
    {
        var port = ChildProcess.FreePort();
        var api = $"http://127.0.0.1:{port}";
        var settings = new Dictionary<string, string?>
        {
            ["ASPNETCORE_URLS"] = api,
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["ConnectionStrings:Postgres"] = connectionString,
            ["Auth:Mode"] = "None", // authentication is tested in ModelMonitor.Ingestion.Tests
            ["Aggregator:Windows"] = "1d",
            ["Aggregator:FlushInterval"] = "00:00:00.500",
            ["Exporter:RefreshInterval"] = "00:00:01",
            ["Exporter:CompletionDelay"] = "00:00:00",
            ["Evaluation:FlushInterval"] = "00:00:00.300",
            ["Serilog:MinimumLevel:Default"] = "Warning",
            ["Serilog:MinimumLevel:Override:ModelMonitor.Aggregator.Evaluation"] = "Information",
            ["Serilog:MinimumLevel:Override:ModelMonitor.Kafka"] = "Information",
        };
        if (kafka is not null)
        {
            settings["Kafka:BootstrapServers"] = kafka;
            settings["Kafka:CreateTopic"] = "false";
        }
        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value;
        }
        var process = ChildProcess.StartDotnet("ModelMonitor.AllInOne", "ModelMonitor.AllInOne", settings);
        var http = new HttpClient { BaseAddress = new Uri(api), Timeout = TimeSpan.FromSeconds(30) };
        var host = new EvaluationHost(process, http);
        if (waitUntilReady)
        {
            await process.WaitUntilReadyAsync(http, new Uri($"{api}/readyz"), TimeSpan.FromSeconds(90));
        }
        return host;
    }

    /// <summary>POSTs a JSON array to <paramref name="path"/> and demands a 202 accepting every record.</summary>
    public async Task PostAllAsync(string path, IEnumerable<string> records)
    {
        var list = records.ToList();
        for (var start = 0; start < list.Count; start += 200)
        {
            var batch = list.Skip(start).Take(200).ToList();
            using var response = await Http.PostAsync(path, new StringContent($"[{string.Join(',', batch)}]", Encoding.UTF8, "application/json"));
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{path}: {(int)response.StatusCode} {body}");
            Assert.Contains($"\"accepted\":{batch.Count},", body, StringComparison.Ordinal);
        }
    }

    /// <summary>The value of one sample of the statistics exposition, or null.</summary>
    public static double? Sample(string exposition, string series)
    {
        var match = Regex.Match(exposition, "^" + Regex.Escape(series) + " (\\S+)$", RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }

    public void Dispose()
    {
        Http.Dispose();
        Process.Dispose();
    }
}
