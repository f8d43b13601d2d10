using System.Globalization;
using ModelMonitor.Testing.Processes;

namespace ModelMonitor.Reliability.Tests;

/// <summary>Starts the project's programs as child processes with the settings the reliability tests need.</summary>
internal static class Services
{
    private static readonly HttpClient Probe = new() { Timeout = TimeSpan.FromSeconds(5) };

    /// <summary>The ingestion API (ModelMonitor.Ingestion.dll) on <paramref name="port"/>, ready once it reached Kafka.</summary>
    public static async Task<ChildProcess> StartApiAsync(int port, string bootstrapServers, string topic,
        IReadOnlyDictionary<string, string?>? extra = null, bool waitForKafka = true)
    {
        var settings = new Dictionary<string, string?>
        {
            // The unprefixed key wins over any "Urls" in an appsettings.json copied next to the dll.
            ["Urls"] = Url(port).ToString(),
            ["Kafka:BootstrapServers"] = bootstrapServers,
            ["Kafka:Topic"] = topic,
            // Authentication off unless a test turns it on (FuzzTests, HostileInputTests: Auth:Mode=ApiKeys with a keys file).
            ["Auth:Mode"] = "None",
            // The mock cluster does not support CreateTopics (and the AdminClient spins a core): the
            // tests create the topic themselves with more partitions.
            ["Kafka:CreateTopic"] = "false",
            ["Kafka:DeliveryTimeout"] = "00:00:05",
            ["Serilog:MinimumLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        var api = ChildProcess.StartDotnet($"ingestion API :{port}", "ModelMonitor.Ingestion", settings);
        try
        {
            await api.WaitUntilReadyAsync(Probe, new Uri(Url(port), waitForKafka ? "readyz" : "healthz"), TimeSpan.FromSeconds(60));
            return api;
        }
        catch
        {
            api.Dispose();
            throw;
        }
    }

    /// <summary>The aggregator (ModelMonitor.Aggregator.dll); its /metrics on <paramref name="port"/>.</summary>
    public static ChildProcess StartAggregator(int port, string connectionString, string bootstrapServers, string topic, string group,
        IReadOnlyDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Urls"] = Url(port).ToString(),
            ["ConnectionStrings:Postgres"] = connectionString,
            ["Kafka:BootstrapServers"] = bootstrapServers,
            ["Kafka:Topic"] = topic,
            ["Aggregator:ConsumerGroup"] = group,
            ["Aggregator:Windows"] = "5m,1h",
            ["Aggregator:FlushInterval"] = "00:00:00.500",
            ["Aggregator:MaxRetryBackoff"] = "00:00:02",
            // A killed member holds its partitions until the session times out: keep it short.
            ["Aggregator:Consumer:session.timeout.ms"] = "3000",
            ["Aggregator:Consumer:heartbeat.interval.ms"] = "500",
            ["Serilog:MinimumLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return ChildProcess.StartDotnet($"aggregator :{port}", "ModelMonitor.Aggregator", settings);
    }

    /// <summary>
    /// The demo traffic generator (ModelMonitor.DemoTraffic.dll) against <paramref name="apiPort"/>, writing
    /// "prediction_id TAB model_id" of every acknowledged record to <paramref name="ledger"/>.
    /// </summary>
    public static ChildProcess StartGenerator(int apiPort, string ledger, double rate, TimeSpan duration, string runId,
        IEnumerable<string>? extraArguments = null)
    {
        string[] arguments =
        [
            "--url", Url(apiPort).ToString(),
            "--rate", rate.ToString(CultureInfo.InvariantCulture),
            "--duration", $"{(int)Math.Ceiling(duration.TotalSeconds)}s",
            "--no-incidents",
            // The ledger is of predictions; the evaluation join's exactly-once has its own tests (Evaluation.Tests).
            "--no-outcomes",
            "--batch-size", "20",
            "--concurrency", "4",
            "--run-id", runId,
            "--ledger", ledger,
            "--ledger-with-model",
            "--status-interval", "5s",
            "--request-timeout", "20s",
            // The API may be dead for a few seconds: keep resending after connection errors.
            "--max-retries", "40",
            .. extraArguments ?? [],
        ];
        return ChildProcess.StartDotnet($"demo traffic {runId}", "ModelMonitor.DemoTraffic", new Dictionary<string, string?>(), arguments,
            keepAllOutput: true);
    }

    /// <summary>Waits for the generator to finish (its duration plus the 5 s it gives requests in flight).</summary>
    public static async Task FinishGeneratorAsync(ChildProcess generator, TimeSpan duration)
    {
        if (!await generator.WaitForExitAsync(duration + TimeSpan.FromSeconds(30)))
        {
            Assert.Fail($"The generator did not finish.\n{generator.Output()}");
        }

        Assert.True(generator.ExitCode == 0, $"The generator failed.\n{generator.Output()}");
    }

    /// <summary>Ends the generator's load now (SIGTERM: it settles requests in flight, prints its summary, exits 0).</summary>
    public static async Task StopGeneratorAsync(ChildProcess generator)
    {
        await generator.TerminateAsync();
        if (!await generator.WaitForExitAsync(TimeSpan.FromSeconds(30)))
        {
            Assert.Fail($"The generator did not stop within 30 s of SIGTERM.\n{generator.Output()}");
        }

        Assert.True(generator.ExitCode == 0, $"The generator failed.\n{generator.Output()}");
    }

    /// <summary>The generator's summary line ("summary: run ... acknowledged=N ...").</summary>
    public static string Summary(ChildProcess generator) =>
        generator.AllOutput().LastOrDefault(l => l.StartsWith("summary:", StringComparison.Ordinal)) ?? "(no summary)";

    /// <summary>The ledger's (prediction_id, model_id) lines.</summary>
    public static List<(string PredictionId, string ModelId)> ReadLedger(string path) =>
        [.. File.ReadAllLines(path).Where(l => l.Length > 0).Select(l =>
        {
            var tab = l.IndexOf('\t', StringComparison.Ordinal);
            Assert.True(tab > 0, $"ledger line without model: '{l}'");
            return (l[..tab], l[(tab + 1)..]);
        })];

    public static Uri Url(int port) => new($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/");

    public static string NewRunId() => Guid.NewGuid().ToString("N")[..8];

    /// <summary>Lines in the ledger so far (read while the generator appends).</summary>
    public static int LedgerLines(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var count = 0;
            int b;
            while ((b = stream.ReadByte()) >= 0)
            {
                if (b == '\n')
                {
                    count++;
                }
            }

            return count;
        }
        catch (FileNotFoundException)
        {
            return 0;
        }
    }
}
