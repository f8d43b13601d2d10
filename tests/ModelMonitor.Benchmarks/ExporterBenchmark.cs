using System.Globalization;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// Scenario 4: the exporter's own `--benchmark` (synthetic snapshot of ~10k and ~100k series, render,
/// scrape over HTTP, memory), run as is in a child process; this only repeats it and takes medians.
/// </summary>
internal static class ExporterBenchmark
{
    public static async Task RunAsync(BenchmarkContext context)
    {
        Console.WriteLine("command: dotnet src/ModelMonitor.Exporter/bin/Release/net10.0/ModelMonitor.Exporter.dll --benchmark");
        var rows = new List<double[]>();
        string? header = null;
        for (var run = 1; run <= context.Options.Runs; run++)
        {
            var lines = new List<string>();
            await using (var exporter = ChildProcess.Start("ModelMonitor.Exporter", ["--benchmark"], new Dictionary<string, string>(), context.Options.LogDirectory, line =>
            {
                lock (lines)
                {
                    lines.Add(line);
                }
            }))
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
                await exporter.WaitForExitAsync(timeout.Token);
            }
            await Task.Delay(200); // the last output lines arrive asynchronously
            lock (lines)
            {
                header ??= lines.FirstOrDefault(l => l.StartsWith("series", StringComparison.Ordinal));
                foreach (var line in lines.Where(l => l.Length > 0 && char.IsDigit(l[0])))
                {
                    Console.WriteLine($"run {run}: {line}");
                    rows.Add(line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray());
                }
            }
        }
        Console.WriteLine("-- median of the runs --");
        Console.WriteLine(header);
        foreach (var group in rows.GroupBy(r => r[0]))
        {
            Console.WriteLine(string.Join("  ", Enumerable.Range(0, group.First().Length).Select(i => Stats.Median(group.Select(r => r[i])).ToString(i is 2 or 3 or 4 ? "F1" : "F0", CultureInfo.InvariantCulture))));
        }
    }
}
