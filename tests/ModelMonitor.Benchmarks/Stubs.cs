namespace ModelMonitor.Benchmarks;



internal static class SteadyLoadBenchmark
{
    public static Task RunAsync(BenchmarkContext context, TimeSpan duration, bool memory) => Task.CompletedTask;
}
