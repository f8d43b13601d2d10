using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ModelMonitor.Exporter;
using ModelMonitor.Storage;
using ModelMonitor.Testing.Postgres;
using Npgsql;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// `run.sh drift-refresh` (issue 15's goal as the issue states it: drift adds ≤ 20% to the exporter's refresh time): the
/// exporter's whole refresh (the Postgres read, the render, evaluation and predictor segments, the gzip form) on the
/// console benchmark's fleet (100 predictors × 5 models × 300 features, a tenth categorical, every numeric row with a real
/// sketch; one training reference of 2,000 values per model), seeded with the latest windows of 1m, 5m and 1h only. Two
/// exporters in this process on the same database, on a stopped clock (every refresh sees the same windows): drift off
/// (Drift:Enabled=false) and drift on. Drift on is timed three ways: a refresh that renders the drift families of every
/// window size (as when references change, or an upper bound for a 5m end, when the 1m and 5m parts change), one that renders
/// the 1m part only (a 1m window end) and one that serves them all again (no window ended). Refreshes alternate, medians
/// printed. With a 15 s refresh, an hour is 240 refreshes: 60 end a 1m window (12 of them a 5m window too, counted here at
/// the cost of rendering every size), the other 180 serve the drift families again: the hour's average cost is printed.
/// </summary>
internal static class DriftRefreshBenchmark
{
    private static readonly (int Seconds, int Windows, long Predictions)[] Sizes = [(60, 3, 200), (300, 3, 1_000), (3600, 2, 12_000)];

    public static async Task RunAsync(BenchmarkContext context)
    {
        var runs = Math.Max(5, context.Options.Runs);
        await using var postgres = await PostgresServer.CreateAsync(sharedBuffers: "128MB");
        var database = await postgres.CreateDatabaseAsync("drift_refresh");
        var seeding = new NpgsqlConnectionStringBuilder(database) { CommandTimeout = 0 }.ConnectionString;
        await using (var dataSource = NpgsqlDataSource.Create(seeding))
        {
            await new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance).MigrateAsync(CancellationToken.None);
            await using var db = await dataSource.OpenConnectionAsync();
            await ConsoleBenchmark.SeedAsync(dataSource, db, Now, Sizes, driftWindows: 1);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"-- the exporter's refresh, 500 models × 300 features, windows {string.Join(", ", Sizes.Select(s => $"{s.Seconds} s"))} (the latest complete of each exported), one training reference per model; {runs} rounds of: off, on (drift rendered), on (drift served again) --"));
        await using var off = await ExporterAsync(database, drift: false);
        await using var on = await ExporterAsync(database, drift: true);
        Console.WriteLine("round  off ms  on, all rendered ms  on, 1m rendered ms  on, served ms  series off  series on");
        var (offMs, allMs, minuteMs, servedMs) = (new List<double>(), new List<double>(), new List<double>(), new List<double>());
        for (var round = 1; round <= runs; round++)
        {
            offMs.Add(await off.RefreshAsync());
            on.Worker.ForgetDriftText();
            allMs.Add(await on.RefreshAsync());
            on.Worker.ForgetDriftText(60);
            minuteMs.Add(await on.RefreshAsync());
            servedMs.Add(await on.RefreshAsync());
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{round,-6} {offMs[^1],-7:F0} {allMs[^1],-20:F0} {minuteMs[^1],-19:F0} {servedMs[^1],-13:F0} {off.Series,-11:N0} {on.Series:N0}"));
        }

        var (o, all, minute, served) = (Stats.Median(offMs), Stats.Median(allMs), Stats.Median(minuteMs), Stats.Median(servedMs));
        var hour = ((48 * minute) + (12 * all) + (180 * served)) / 240; // a 15 s refresh; windows 1m, 5m, 1h
        var fiveMinutes = (all + (19 * served)) / 20; // windows 5m and longer: one refresh in 20 renders (bounded by all sizes)
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"median refresh: off {o:F0} ms; on, every size's drift rendered {all:F0} ms ({Percent(all, o)}); on, the 1m part rendered {minute:F0} ms ({Percent(minute, o)}); on, served again {served:F0} ms ({Percent(served, o)}); averaged over an hour of 15 s refreshes: windows 1m,5m,1h {Percent(hour, o)}; 5m and longer {Percent(fiveMinutes, o)} (at most)"));
    }

    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    private static string Percent(double value, double baseline) => string.Create(CultureInfo.InvariantCulture, $"{(value / baseline) - 1:+0%;-0%}");

    private static async Task<Exporter> ExporterAsync(string database, bool drift)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = database,
            ["Urls"] = "http://127.0.0.1:0",
            ["Exporter:RefreshInterval"] = "01:00:00", // its own loop refreshes once at start; the benchmark times the others
            ["Drift:Enabled"] = drift ? "true" : "false",
            ["Serilog:MinimumLevel:Default"] = "Warning",
            ["Auth:Mode"] = "None",
        });
        builder.Services.AddSingleton<TimeProvider>(new StoppedClock(Now));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.AddExporter();
        var app = builder.Build();
        await app.StartAsync();
        var worker = app.Services.GetServices<IHostedService>().OfType<ExporterWorker>().Single();
        var exporter = new Exporter(app, worker, app.Services.GetRequiredService<IOptions<ExporterOptions>>().Value, app.Services.GetRequiredService<ExpositionCache>());
        await exporter.RefreshAsync(); // references loaded, code warm
        return exporter;
    }

    private sealed class Exporter(WebApplication app, ExporterWorker worker, ExporterOptions options, ExpositionCache cache) : IAsyncDisposable
    {
        public ExporterWorker Worker => worker;

        public long Series => cache.Current.Series;

        /// <summary>One refresh, timed (ms).</summary>
        public async Task<double> RefreshAsync()
        {
            var clock = Stopwatch.StartNew();
            await worker.RefreshOnceAsync(options, CancellationToken.None);
            return clock.Elapsed.TotalMilliseconds;
        }

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    /// <summary>Every refresh at the same instant: the same windows are the latest complete ones throughout.</summary>
    private sealed class StoppedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
