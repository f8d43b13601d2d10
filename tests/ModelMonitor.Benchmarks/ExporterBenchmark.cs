using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using ModelMonitor.Exporter;
using ModelMonitor.Exporter.Text;
using ModelMonitor.Storage.Statistics;
using Prometheus;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// Scenario "exporter": the per-model statistics published two ways, side by side, at about 100k and 300k series:
/// <c>prerendered</c> (production: the renderer's text cached as bytes at each refresh and copied out per scrape of
/// /metrics/statistics) and <c>gauges</c> (the alternative issue 13 asked to measure: prometheus-net gauges set by
/// <see cref="StatisticsGauges"/>, served by MapMetrics). Each
/// variant runs in its own child process (this program with <c>exporter-child</c>) so memory figures are its own.
/// Refresh = the in-memory step after the Postgres read (render into text, or set and prune the gauges); the read
/// itself is the same SQL for both. Scrapes: sequential GETs over Kestrel asking for the text format, no gzip.
/// </summary>
internal static class ExporterBenchmark
{
    private static readonly (int Models, string Label)[] Sizes = [(63, "100k"), (190, "300k")];
    private const int FeaturesPerModel = 50;
    private const int Scrapes = 40;
    private const string Header = "variant      series   bytes      gzip bytes  first refresh ms  refresh ms  scrape p50 ms  scrape p99 ms  working set MB  managed heap MB";

    public static async Task RunAsync(BenchmarkContext context)
    {
        Console.WriteLine($"{FeaturesPerModel} features per model, 2 windows, a fifth of the features categorical (8 values); {Scrapes} scrapes per run");
        Console.WriteLine(Header);
        var rows = new List<(string Variant, int Models, double[] Figures)>();
        for (var run = 1; run <= context.Options.Runs; run++)
        {
            foreach (var (models, _) in Sizes)
            {
                foreach (var variant in new[] { "prerendered", "gauges" })
                {
                    var line = await RunChildAsync(variant, models, context.Options.LogDirectory);
                    Console.WriteLine($"run {run}: {line}");
                    rows.Add((variant, models, [.. line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(v => double.Parse(v, CultureInfo.InvariantCulture))]));
                }
            }
        }
        Console.WriteLine("-- median of the runs --");
        Console.WriteLine(Header);
        foreach (var group in rows.GroupBy(r => (r.Models, r.Variant)))
        {
            var figures = Enumerable.Range(0, group.First().Figures.Length).Select(i => Stats.Median(group.Select(r => r.Figures[i]))).ToArray();
            Console.WriteLine(Format(group.Key.Variant, figures));
        }
    }

    private static async Task<string> RunChildAsync(string variant, int models, string logDirectory)
    {
        var lines = new List<string>();
        var self = typeof(ExporterBenchmark).Assembly.Location;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in new[] { self, "exporter-child", variant, models.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        await File.WriteAllTextAsync(Path.Combine(logDirectory, $"exporter-{variant}-{models}.log"), output);
        return output.Split('\n').LastOrDefault(l => l.StartsWith(variant, StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"exporter-child {variant} {models} printed no figures:\n{output}");
    }

    private static string Format(string variant, double[] f) => string.Create(CultureInfo.InvariantCulture,
        $"{variant,-12} {f[0],-8:F0} {f[1],-10:F0} {f[2],-11:F0} {f[3],-17:F1} {f[4],-11:F1} {f[5],-14:F1} {f[6],-14:F1} {f[7],-15:F0} {f[8]:F0}");

    /// <summary>One variant at one size, in this process; prints one line of figures.</summary>
    public static async Task<int> RunChildAsync(string[] args)
    {
        var variant = args[0];
        var models = int.Parse(args[1], CultureInfo.InvariantCulture);
        var options = new ExporterOptions { MaxModels = 100_000, MaxFeaturesPerModel = 100_000 };
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        await using var app = builder.Build();

        var refreshes = new List<double>();
        long series = 0;
        var cached = new System.Runtime.CompilerServices.StrongBox<ReadOnlyMemory<byte>>(ReadOnlyMemory<byte>.Empty);
        var registry = Metrics.NewCustomRegistry();
        var gauges = new StatisticsGauges(Metrics.WithCustomRegistry(registry));
        for (var i = 0; i < 6; i++)
        {
            // A fresh snapshot per refresh, as the exporter reads one from Postgres each time (values move).
            var snapshot = Synthetic(models, FeaturesPerModel, offset: i);
            var watch = Stopwatch.StartNew();
            if (variant == "gauges")
            {
                series = ExpositionRenderer.Render(snapshot, options, gauges).Series;
                gauges.Complete();
            }
            else
            {
                var exposition = ExpositionRenderer.Render(snapshot, options);
                series = exposition.Series;
                Volatile.Write(ref cached, new System.Runtime.CompilerServices.StrongBox<ReadOnlyMemory<byte>>(exposition.Bytes));
            }
            refreshes.Add(watch.Elapsed.TotalMilliseconds);
        }
        if (variant == "gauges")
        {
            app.MapMetrics("/metrics", registry);
        }
        else
        {
            app.MapGet("/metrics", async (HttpContext context) =>
            {
                context.Response.ContentType = PrometheusTextWriter.ContentType;
                await context.Response.BodyWriter.WriteAsync(Volatile.Read(ref cached).Value, context.RequestAborted);
            });
        }
        await app.StartAsync();

        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
        client.DefaultRequestHeaders.Accept.ParseAdd("text/plain; version=0.0.4");
        var times = new List<double>();
        byte[] body = [];
        for (var i = 0; i < Scrapes; i++)
        {
            var watch = Stopwatch.StartNew();
            body = await client.GetByteArrayAsync("/metrics");
            times.Add(watch.Elapsed.TotalMilliseconds);
        }
        await app.StopAsync();
        times.Sort();
        using var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(body);
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.KeepAlive(cached);
        GC.KeepAlive(gauges);
        using var process = Process.GetCurrentProcess();
        var steady = refreshes.Skip(1).Order().ToList();
        Console.WriteLine(Format(variant, [series, body.Length, compressed.Length, refreshes[0], steady[steady.Count / 2],
            times[times.Count / 2], times[(int)Math.Ceiling(times.Count * 0.99) - 1], process.WorkingSet64 / 1048576.0, GC.GetTotalMemory(false) / 1048576.0]));
        return 0;
    }

    /// <summary>Two window sizes (5m, 1h); per feature 14 series, every fifth feature categorical with 8 values.</summary>
    private static StatisticsSnapshot Synthetic(int models, int featuresPerModel, int offset)
    {
        var modelRows = new List<ModelRow>();
        var windows = new List<WindowSnapshot>();
        for (var m = 0; m < models; m++)
        {
            modelRows.Add(new ModelRow { PredictorName = $"predictor_{m / 2}", ModelId = $"model_{m}", FirstSeen = DateTime.UtcNow.AddDays(-30), LastSeen = DateTime.UtcNow });
        }

        foreach (var size in new[] { 300, 3600 })
        {
            var modelWindows = modelRows.Select(m => new ModelWindowRow
            {
                PredictorName = m.PredictorName,
                ModelId = m.ModelId,
                PredictionCount = 10_000 + offset,
                Mean = 12.345678 + offset,
                Stddev = 3.21,
                Min = 0.5,
                Max = 99.5,
                P05 = 4.1,
                P25 = 8.2,
                P50 = 12.3,
                P75 = 16.4,
                P95 = 22.5,
            }).ToList();
            var features = new List<FeatureWindowRow>();
            foreach (var m in modelRows)
            {
                for (var f = 0; f < featuresPerModel; f++)
                {
                    features.Add(new FeatureWindowRow
                    {
                        PredictorName = m.PredictorName,
                        ModelId = m.ModelId,
                        Feature = $"feature_number_{f}",
                        ValueCount = 9_900 + offset,
                        DefaultCount = 120,
                        NonfiniteCount = 0,
                        NumericCount = f % 5 == 0 ? 0 : 9_900 + offset,
                        Mean = 1234.5678 + offset,
                        Stddev = 12.34,
                        Min = 0.001,
                        Max = 9999.9,
                        P05 = 10.1,
                        P25 = 500.2,
                        P50 = 1200.3,
                        P75 = 2000.4,
                        P95 = 5000.5,
                        CategoricalCount = f % 5 == 0 ? 9_900 + offset : 0,
                        Categories = f % 5 == 0 ? "{\"a\":3000,\"b\":2000,\"c\":1500,\"d\":1200,\"e\":900,\"f\":700,\"g\":400,\"__other__\":200}" : "{}",
                    });
                }
            }
            windows.Add(new WindowSnapshot(size, DateTimeOffset.UtcNow.AddSeconds(-size), modelWindows, features, []));
        }
        return new StatisticsSnapshot(modelRows, windows);
    }
}
