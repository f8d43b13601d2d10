using System.Diagnostics;
using System.Globalization;
using Dapper;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Testing.Metrics;
using ModelMonitor.Testing.Processes;
using ModelMonitor.Testing.Waiting;
using Npgsql;

namespace ModelMonitor.Aggregator.Tests;

/// <summary>Starts real aggregators (in-process hosts or child processes) against a topic and a database.</summary>
internal static class AggregatorHarness
{
    public static Dictionary<string, string?> Settings(string connectionString, string bootstrapServers, string topic, string group) => new()
    {
        ["ConnectionStrings:Postgres"] = connectionString,
        ["Kafka:BootstrapServers"] = bootstrapServers,
        ["Kafka:Topic"] = topic,
        ["Aggregator:ConsumerGroup"] = group,
        // The join's consumer (evaluation, shadows) in a group of the test's own: one group shared by the tests' hosts on
        // the shared mock cluster rebalanced at every start and stop of any of them.
        ["Evaluation:ConsumerGroup"] = group + "-join",
        ["Aggregator:Windows"] = "5m,1h",
        ["Aggregator:FlushInterval"] = "00:00:00.200",
        ["Aggregator:MaxRetryBackoff"] = "00:00:01",
        // A killed member is noticed after the session timeout: keep it short for the crash tests.
        ["Aggregator:Consumer:session.timeout.ms"] = "3000",
        ["Aggregator:Consumer:heartbeat.interval.ms"] = "500",
        ["Serilog:MinimumLevel:Default"] = "Warning",
        ["Urls"] = "http://127.0.0.1:0",
    };

    public static async Task<IHost> StartAsync(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Testing" });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddAggregator();
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>Runs the aggregator as its own process, so a test can kill it without any graceful step.</summary>
    public static ChildProcess StartProcess(Dictionary<string, string?> settings) =>
        ChildProcess.StartDotnet("aggregator", "ModelMonitor.Aggregator", settings);

    /// <summary>One metric sample from a host's registry, e.g. ("modelmonitor_aggregator_records_poison_total").</summary>
    public static double Metric(IHost host, string name) => Exposition.Sample(MetricsText(host), name);

    public static string MetricsText(IHost host)
    {
        using var stream = new MemoryStream();
        host.Services.GetRequiredService<Prometheus.CollectorRegistry>().CollectAndExportAsTextAsync(stream).GetAwaiter().GetResult();
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Sum of prediction_count per window size, e.g. {300: n, 3600: n}.</summary>
    public static async Task<Dictionary<int, long>> PredictionCountsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        var exists = await connection.ExecuteScalarAsync<bool>("SELECT to_regclass('model_window_stats') IS NOT NULL");
        if (!exists)
        {
            return [];
        }

        var rows = await connection.QueryAsync<(int WindowSeconds, long Count)>(
            "SELECT window_seconds, sum(prediction_count)::bigint FROM model_window_stats GROUP BY window_seconds");
        return rows.ToDictionary(r => r.WindowSeconds, r => r.Count);
    }

    /// <summary>Σ over partitions of where each resumes: the lowest next offset of its window sizes (each keeps its own).</summary>
    public static async Task<long> StoredOffsetSumAsync(string connectionString, string group)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        return await connection.ExecuteScalarAsync<long>(
            """
            SELECT coalesce(sum(resume), 0)::bigint FROM (
                SELECT min(next_offset) AS resume FROM consumer_offsets WHERE consumer_group = @group GROUP BY topic, partition) p
            """, new { group });
    }

    /// <summary>As the API writes <paramref name="logs"/> sent in requests of <paramref name="perRequest"/>: per request, one
    /// message per partition of the 4-partition topic.</summary>
    public static IEnumerable<byte[]> ApiMessages(IEnumerable<PredictionLog> logs, int perRequest) =>
        logs.Chunk(perRequest).SelectMany(request => PredictionMessages.Plan(request, verbatim: null, partitionCount: 4, maxMessageBytes: 900_000).Messages)
            .Select(m => m.Value);

    /// <summary>Waits until each of the <paramref name="windowSizes"/> window sizes holds exactly <paramref name="expected"/>
    /// predictions; fails on overshoot or timeout.</summary>
    public static Task WaitForCountAsync(string connectionString, long expected, TimeSpan timeout, int windowSizes = 2)
    {
        Dictionary<int, long> counts = [];
        return Eventually.UntilAsync(async () =>
        {
            counts = await PredictionCountsAsync(connectionString);
            Assert.False(counts.Values.Any(c => c > expected), $"Double counting: stored {string.Join(", ", counts)} for {expected} records.");
            return counts.Count == windowSizes && counts.Values.All(c => c == expected);
        }, timeout, () => $"stored {string.Join(", ", counts)} of {expected} records");
    }

    public static byte[] Encode(PredictionLog log) => PredictionLogCodec.Encode(log);
}
