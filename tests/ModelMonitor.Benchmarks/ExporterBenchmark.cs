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
        _ = context;
        await ExporterRenderBenchmark.RunAsync();
    }
}
