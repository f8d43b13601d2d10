using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelMonitor.Exporter;
using ModelMonitor.Hosting;
using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// `dotnet run -c Release --project src/ModelMonitor.Exporter -- --benchmark`: renders synthetic
/// snapshots of about 10k and 100k series, serves each from the cache through Kestrel exactly as
/// /metrics does, and prints render time, scrape time, bytes and the process's memory. Figures, not a
/// pass/fail test.
/// </summary>
internal static class ExporterRenderBenchmark
{
    public static async Task RunAsync()
    {
        Console.WriteLine("series    bytes        render ms  scrape p50 ms  scrape max ms  working set MB  GC heap MB");
        foreach (var (models, features) in new[] { (10, 35), (50, 70) })
        {
            await RunOneAsync(models, features);
        }
    }

    private static async Task RunOneAsync(int models, int featuresPerModel)
    {
        var snapshot = Synthetic(models, featuresPerModel);
        var options = new ExporterOptions { MaxModels = 10_000, MaxFeaturesPerModel = 10_000 };
        // Best of five renders: the first ones also pay for JIT compilation.
        var watch = new Stopwatch();
        var renderMs = double.MaxValue;
        Exposition exposition = Exposition.Empty;
        for (var i = 0; i < 5; i++)
        {
            watch.Restart();
            exposition = ExpositionRenderer.Render(snapshot, options);
            renderMs = Math.Min(renderMs, watch.Elapsed.TotalMilliseconds);
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddServiceDefaults();
        builder.Logging.SetMinimumLevel(Microsoft.Extensions.Logging.LogLevel.Warning);
        builder.Services.AddSingleton<ExpositionCache>();
        await using var app = builder.Build();
        app.MapOperationalEndpoints();
        ExporterExtensions.AppendStatisticsToMetrics(app);
        app.Services.GetRequiredService<ExpositionCache>().Publish(exposition, TimeSpan.FromMilliseconds(renderMs), DateTimeOffset.UtcNow);
        await app.StartAsync();
        var address = app.Urls.First();

        using var client = new HttpClient { BaseAddress = new Uri(address) };
        var times = new List<double>();
        long bytes = 0;
        for (var i = 0; i < 25; i++)
        {
            watch.Restart();
            var body = await client.GetByteArrayAsync("/metrics");
            times.Add(watch.Elapsed.TotalMilliseconds);
            bytes = body.Length;
        }

        await app.StopAsync();
        times.Sort();
        using var process = Process.GetCurrentProcess();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{exposition.Series,-9} {bytes,-12} {renderMs,-10:F1} {times[times.Count / 2],-14:F1} {times[^1],-14:F1} {process.WorkingSet64 / 1048576.0,-15:F0} {GC.GetTotalMemory(false) / 1048576.0:F0}"));
    }

    /// <summary>Two window sizes (5m, 1h); per feature 13 series, every fifth feature categorical with 8 values.</summary>
    private static StatisticsSnapshot Synthetic(int models, int featuresPerModel)
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
                PredictionCount = 10_000,
                Mean = 12.345678,
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
                        ValueCount = 9_900,
                        DefaultCount = 120,
                        NonfiniteCount = 0,
                        Mean = 1234.5678,
                        Stddev = 12.34,
                        Min = 0.001,
                        Max = 9999.9,
                        P05 = 10.1,
                        P25 = 500.2,
                        P50 = 1200.3,
                        P75 = 2000.4,
                        P95 = 5000.5,
                        CategoricalCount = f % 5 == 0 ? 9_900 : 0,
                        Categories = f % 5 == 0 ? "{\"a\":3000,\"b\":2000,\"c\":1500,\"d\":1200,\"e\":900,\"f\":700,\"g\":400,\"__other__\":200}" : "{}",
                    });
                }
            }

            windows.Add(new WindowSnapshot(size, DateTimeOffset.UtcNow.AddSeconds(-size), modelWindows, features, []));
        }

        return new StatisticsSnapshot(modelRows, windows);
    }
}
