using System.Globalization;
using ModelMonitor.Benchmarks;

// tests/ModelMonitor.Benchmarks/run.sh [scenario...] [--runs N] [--seconds S] [--memory-minutes M] [--freshness-seconds S] [--batches 1,100,1000]
// Scenarios: codec ingest aggregate sql-baseline exporter freshness memory memory-services (default: all, the memory ones last), fuzz, drift, flush,
// evaluation, shadow ([--shadow-ids 100000] [--runs 3]), auth, console (issue 19: the web console's pages on 500 models × 300 features) and
// cardinality (only when named; cardinality: [--grid 10x50,100x50,1000x50,1000x200] [--cardinality-seconds 120] [--rate 3000]
// [--set Aggregator:Key=value]...).
if (args is ["exporter-child", .. var childArgs])
{
    return await ExporterBenchmark.RunChildAsync(childArgs);
}

var all = new[] { "codec", "ingest", "aggregate", "sql-baseline", "exporter", "freshness", "memory", "memory-services" };
var options = BenchmarkOptions.Parse(args, all, extra: ["fuzz", "cardinality", "drift", "drift-refresh", "flush", "evaluation", "shadow", "auth", "console"]);
if (options is null)
{
    Console.Error.WriteLine($"usage: run.sh [{string.Join('|', all)}]... [--runs 3] [--seconds 8] [--memory-minutes 10] [--freshness-seconds 150] [--batches 1,100,1000] | fuzz [--fuzz-requests 10000] | drift | flush | evaluation [--runs 3] [--seconds 8] | shadow [--shadow-ids 100000] [--runs 3] | auth [--runs 3] [--seconds 8] | console | cardinality [--grid 10x50,100x50,1000x50,1000x200] [--cardinality-seconds 120] [--rate 3000] [--set Aggregator:Key=value]");
    return 1;
}

Console.WriteLine(Machine.Describe());
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"runs per scenario: {options.Runs} (median reported); load per measured phase: {options.Seconds} s; logs: {options.LogDirectory}"));
await using var context = new BenchmarkContext(options);
foreach (var scenario in options.Scenarios)
{
    Console.WriteLine();
    Console.WriteLine($"== {scenario} ==");
    var task = scenario switch
    {
        "codec" => CodecBenchmark.RunAsync(context),
        "ingest" => IngestBenchmark.RunAsync(context),
        "aggregate" => AggregateBenchmark.RunAsync(context),
        "sql-baseline" => SqlBaselineBenchmark.RunAsync(context),
        "exporter" => ExporterBenchmark.RunAsync(context),
        "freshness" => SteadyLoadBenchmark.RunAsync(context, TimeSpan.FromSeconds(options.FreshnessSeconds), memory: false),
        "memory" => SteadyLoadBenchmark.RunAsync(context, TimeSpan.FromMinutes(options.MemoryMinutes), memory: true),
        "memory-services" => ServicesMemoryBenchmark.RunAsync(context, TimeSpan.FromMinutes(options.MemoryMinutes)),
        "fuzz" => FuzzBenchmark.RunAsync(context),
        "cardinality" => CardinalityBenchmark.RunAsync(context),
        "drift" => DriftBenchmark.RunAsync(context),
        "drift-refresh" => DriftRefreshBenchmark.RunAsync(context),
        "flush" => FlushBenchmark.RunAsync(context),
        "evaluation" => EvaluationBenchmark.RunAsync(context),
        "shadow" => ShadowBenchmark.RunAsync(context),
        "auth" => AuthBenchmark.RunAsync(context),
        "console" => ConsoleBenchmark.RunAsync(context),
        _ => throw new InvalidOperationException(scenario),
    };
    await task;
}
return 0;

namespace ModelMonitor.Benchmarks
{
    internal sealed record BenchmarkOptions(IReadOnlyList<string> Scenarios, int Runs, double Seconds, double MemoryMinutes, double FreshnessSeconds, string LogDirectory,
        IReadOnlyList<int> Batches, int FuzzRequests, IReadOnlyList<(int Models, int Features)> Grid, double CardinalitySeconds, double Rate,
        IReadOnlyList<string> AggregatorSettings, int ShadowIds = 100_000)
    {
        public static BenchmarkOptions? Parse(string[] args, string[] all, string[] extra)
        {
            var fuzzRequests = 10_000;
            var shadowIds = 100_000;
            (int, int)[] grid = [(10, 50), (100, 50), (1000, 50), (1000, 200)];
            double cardinalitySeconds = 120, rate = 3000;
            var settings = new List<string>();
            var scenarios = new List<string>();
            int runs = 3;
            double seconds = 8, memoryMinutes = 10, freshnessSeconds = 150;
            int[] batches = [1, 100, 1000];
            for (var i = 0; i < args.Length; i++)
            {
                switch (args[i])
                {
                    case "--runs" when i + 1 < args.Length:
                        runs = int.Parse(args[++i], CultureInfo.InvariantCulture);
                        break;
                    case "--seconds" when i + 1 < args.Length:
                        seconds = double.Parse(args[++i], CultureInfo.InvariantCulture);
                        break;
                    case "--memory-minutes" when i + 1 < args.Length:
                        memoryMinutes = double.Parse(args[++i], CultureInfo.InvariantCulture);
                        break;
                    case "--freshness-seconds" when i + 1 < args.Length:
                        freshnessSeconds = double.Parse(args[++i], CultureInfo.InvariantCulture);
                        break;
                    case "--batches" when i + 1 < args.Length:
                        batches = [.. args[++i].Split(',').Select(b => int.Parse(b, CultureInfo.InvariantCulture))];
                        break;
                    case "--fuzz-requests" when i + 1 < args.Length:
                        fuzzRequests = int.Parse(args[++i], CultureInfo.InvariantCulture);
                        break;
                    case "--grid" when i + 1 < args.Length:
                        grid = [.. args[++i].Split(',').Select(c => c.Split('x')).Select(c => (int.Parse(c[0], CultureInfo.InvariantCulture), int.Parse(c[1], CultureInfo.InvariantCulture)))];
                        break;
                    case "--cardinality-seconds" when i + 1 < args.Length:
                        cardinalitySeconds = double.Parse(args[++i], CultureInfo.InvariantCulture);
                        break;
                    case "--rate" when i + 1 < args.Length:
                        rate = double.Parse(args[++i], CultureInfo.InvariantCulture);
                        break;
                    case "--shadow-ids" when i + 1 < args.Length:
                        shadowIds = int.Parse(args[++i], CultureInfo.InvariantCulture);
                        break;
                    case "--set" when i + 1 < args.Length && args[i + 1].Contains('='):
                        settings.Add(args[++i]);
                        break;
                    case var name when all.Contains(name) || extra.Contains(name):
                        scenarios.Add(name);
                        break;
                    default:
                        return null;
                }
            }
            var logs = Path.Combine(Path.GetTempPath(), "modelmonitor-bench-" + DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
            Directory.CreateDirectory(logs);
            return new BenchmarkOptions(scenarios.Count == 0 ? all : scenarios, runs, seconds, memoryMinutes, freshnessSeconds, logs, batches, fuzzRequests, grid,
                cardinalitySeconds, rate, settings, shadowIds);
        }
    }
}
