using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Dapper;
using Npgsql;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// Scenarios 5 and 6: the all-in-one host (API + aggregator + exporter, embedded mock Kafka, windows
/// 1m,5m,1h, every other setting default) as a child process under steady demo traffic (the demo
/// generator, a child process, 2,000 predictions/s in batches of 100, no incidents, rate held flat).
/// Freshness: a probe model gets one prediction every 500 ms whose prediction_result is its sequence
/// number; Postgres is polled every 100 ms (max of the probe's 1m rows) and /metrics every second.
/// - Postgres freshness = time from the start of the POST to the value being readable in Postgres.
/// - /metrics freshness: the exporter publishes a 1m window only once it is complete (CompletionDelay
///   15 s, then the next refresh, every 15 s), so what is measured is the time from the END of a 1m
///   window to that window appearing in /metrics (one sample per minute).
/// Memory: RSS of the all-in-one process every 10 s (first, last, max, least-squares slope).
/// </summary>
internal static class SteadyLoadBenchmark
{
    private const int Rate = 2000;

    public static async Task RunAsync(BenchmarkContext context, TimeSpan duration, bool memory)
    {
        var runs = memory ? 1 : context.Options.Runs;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"all-in-one host, demo generator at {Rate}/s (batches of 100), {duration.TotalMinutes:F1} min per run, {runs} run(s){(memory ? ", RSS sampled every 10 s" : "")}"));
        var pg = new List<double[]>();
        for (var run = 1; run <= runs; run++)
        {
            pg.Add(await RunOnceAsync(context, duration, memory, run));
        }
        if (runs > 1)
        {
            Console.WriteLine("-- median of the runs --");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Postgres freshness p50 {Stats.Median(pg.Select(p => p[0])):F2} s, p99 {Stats.Median(pg.Select(p => p[1])):F2} s; /metrics: 1m window visible {Stats.Median(pg.Select(p => p[2])):F1} s (p50) after it ended, max {Stats.Median(pg.Select(p => p[3])):F1} s"));
        }
    }

    private static async Task<double[]> RunOnceAsync(BenchmarkContext context, TimeSpan duration, bool memory, int run)
    {
        var database = await context.NewDatabaseAsync(memory ? "memory" : "freshness");
        var port = ChildProcess.FreePort();
        var baseUrl = $"http://127.0.0.1:{port}";
        await using var host = ChildProcess.Start("ModelMonitor.AllInOne", [], new Dictionary<string, string>
        {
            ["Urls"] = baseUrl,
            ["ConnectionStrings__Postgres"] = database,
            ["Auth__Mode"] = "None",
            ["Aggregator__Windows"] = "1m,5m,1h",
        }, context.Options.LogDirectory);
        await host.WaitHttpOkAsync(baseUrl + "/readyz", TimeSpan.FromSeconds(120));

        string? summary = null;
        await using var load = ChildProcess.Start("ModelMonitor.DemoTraffic",
            ["--url", baseUrl, "--rate", Rate.ToString(CultureInfo.InvariantCulture), "--no-incidents", "--no-outcomes", "--demo-day", "1000h", "--batch-size", "100",
             "--duration", $"{(int)duration.TotalSeconds + 5}s", "--json-summary", "--status-interval", "60s"],
            new Dictionary<string, string>(), context.Options.LogDirectory, line =>
            {
                if (line.StartsWith('{'))
                {
                    summary = line;
                }
            });

        using var http = new HttpClient { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(10) };
        await using var db = NpgsqlDataSource.Create(database);
        var posted = new ConcurrentDictionary<long, long>(); // seq → Stopwatch timestamp at POST start
        var pgFreshness = new List<double>();
        var metricsLag = new List<double>();
        var rss = new List<(double Minutes, double Mb)>();
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(duration);

        var probe = Task.Run(async () =>
        {
            for (long seq = 1; !stop.IsCancellationRequested; seq++)
            {
                var body = string.Create(CultureInfo.InvariantCulture,
                    $$"""[{"sent_at":"{{DateTimeOffset.UtcNow:yyyy-MM-dd'T'HH:mm:ss.fff'Z'}}","prediction_id":"probe-{{seq}}","predictor_name":"freshness_probe","model_id":"marker","features":{"seq":{{seq}}},"prediction_result":{{seq}}}]""");
                posted[seq] = Stopwatch.GetTimestamp();
                using var response = await http.PostAsync("/v1/predictions", new StringContent(body, Encoding.UTF8, "application/json"), CancellationToken.None);
                await Task.Delay(500, CancellationToken.None);
            }
        });

        var pgPoll = Task.Run(async () =>
        {
            long seen = 0;
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(100, CancellationToken.None);
                await using var connection = await db.OpenConnectionAsync();
                var visible = (long)(await connection.ExecuteScalarAsync<double?>(
                    "SELECT max(max) FROM model_window_stats WHERE predictor_name = 'freshness_probe' AND window_seconds = 60") ?? 0);
                var now = Stopwatch.GetTimestamp();
                for (var s = seen + 1; s <= visible; s++)
                {
                    if (posted.TryGetValue(s, out var at))
                    {
                        pgFreshness.Add(Stopwatch.GetElapsedTime(at, now).TotalSeconds);
                    }
                }
                seen = Math.Max(seen, visible);
            }
        });

        var metricsPoll = Task.Run(async () =>
        {
            double lastEnd = 0;
            var first = true;
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(1000, CancellationToken.None);
                string text;
                try
                {
                    text = await http.GetStringAsync("/metrics/statistics", CancellationToken.None);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    continue;
                }
                var line = text.Split('\n').FirstOrDefault(l => l.StartsWith("modelmonitor_window_end_timestamp_seconds{", StringComparison.Ordinal)
                    && l.Contains("model_id=\"marker\"", StringComparison.Ordinal) && l.Contains("window=\"1m\"", StringComparison.Ordinal));
                if (line is null)
                {
                    continue;
                }
                var end = double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                if (end > lastEnd)
                {
                    // The first window seen may have ended long before we started looking: not a sample.
                    if (!first)
                    {
                        metricsLag.Add(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0 - end);
                    }
                    first = false;
                    lastEnd = end;
                }
            }
        });

        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                rss.Add((clock.Elapsed.TotalMinutes, host.RssBytes() / 1048576.0));
                if (memory)
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"   {clock.Elapsed.TotalMinutes,5:F1} min  RSS {rss[^1].Mb:F0} MB"));
                }
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(10), stop.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        });

        await Task.WhenAll(probe, pgPoll, metricsPoll, sampler);
        rss.Add((clock.Elapsed.TotalMinutes, host.RssBytes() / 1048576.0));
        await load.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        await Task.Delay(200);

        pgFreshness.Sort();
        metricsLag.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"run {run}: Postgres freshness over {pgFreshness.Count} probes: p50 {Stats.Quantile(pgFreshness, 0.5):F2} s, p99 {Stats.Quantile(pgFreshness, 0.99):F2} s, max {(pgFreshness.Count > 0 ? pgFreshness[^1] : double.NaN):F2} s"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"       /metrics: 1m windows seen completing: {metricsLag.Count}, visible after the window's end: [{string.Join(", ", metricsLag.Select(l => l.ToString("F1", CultureInfo.InvariantCulture)))}] s"));
        Console.WriteLine($"       load generator summary: {summary ?? "(none)"}");
        var slope = Slope(rss);
        var secondHalf = Slope(rss.Where(r => r.Minutes >= rss[^1].Minutes / 2).ToList());
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"       RSS of the all-in-one process: first {rss[0].Mb:F0} MB, last {rss[^1].Mb:F0} MB, max {rss.Max(r => r.Mb):F0} MB; slope {slope:F2} MB/min overall, {secondHalf:F2} MB/min over the second half ({rss.Count} samples)"));
        return [Stats.Quantile(pgFreshness, 0.5), Stats.Quantile(pgFreshness, 0.99), metricsLag.Count > 0 ? Stats.Median(metricsLag) : double.NaN, metricsLag.Count > 0 ? metricsLag[^1] : double.NaN];
    }

    /// <summary>Least-squares slope in MB per minute.</summary>
    internal static double Slope(List<(double Minutes, double Mb)> samples)
    {
        if (samples.Count < 2)
        {
            return double.NaN;
        }
        var mx = samples.Average(s => s.Minutes);
        var my = samples.Average(s => s.Mb);
        var num = samples.Sum(s => (s.Minutes - mx) * (s.Mb - my));
        var den = samples.Sum(s => (s.Minutes - mx) * (s.Minutes - mx));
        return den == 0 ? double.NaN : num / den;
    }
}
