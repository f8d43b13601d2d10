using System.Diagnostics;
using ModelMonitor.Core.Metrics;

namespace ModelMonitor.Hosting.Observability;

/// <summary>The process's own health (memory, CPU, GC, thread pool), read at scrape time.</summary>
public static class ProcessMetrics
{
    private static readonly string[] Generation = ["generation"];
    private static readonly string[][] Generations = [["0"], ["1"], ["2"]];

    public static void Register(MetricsRegistry registry)
    {
        var startTime = Process.GetCurrentProcess().StartTime.ToUniversalTime();
        registry.AddCollector(writer =>
        {
            using var process = Process.GetCurrentProcess();
            Gauge(writer, "process_resident_memory_bytes", "Resident memory of the process in bytes.", process.WorkingSet64);
            Gauge(writer, "process_virtual_memory_bytes", "Virtual memory of the process in bytes.", process.VirtualMemorySize64);
            writer.WriteFamilyHeader("process_cpu_seconds_total", "User and system CPU time spent in seconds.", MetricType.Counter);
            writer.WriteSample("process_cpu_seconds_total", process.TotalProcessorTime.TotalSeconds);
            Gauge(writer, "process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.",
                new DateTimeOffset(startTime).ToUnixTimeMilliseconds() / 1000.0);
            Gauge(writer, "process_threads", "Operating-system threads of the process.", process.Threads.Count);
            Gauge(writer, "dotnet_gc_heap_bytes", "Bytes allocated on the managed heap and not yet collected.", GC.GetTotalMemory(false));
            Gauge(writer, "dotnet_gc_pause_ratio", "Fraction of time spent paused in garbage collection since start.",
                GC.GetTotalPauseDuration().TotalSeconds / Math.Max(1e-9, (DateTime.UtcNow - startTime).TotalSeconds));
            writer.WriteFamilyHeader("dotnet_gc_collections_total", "Garbage collections by generation.", MetricType.Counter);
            for (var g = 0; g <= 2; g++)
            {
                writer.WriteSample("dotnet_gc_collections_total", Generation, Generations[g], GC.CollectionCount(g));
            }
            Gauge(writer, "dotnet_threadpool_threads", "Thread-pool threads.", ThreadPool.ThreadCount);
            Gauge(writer, "dotnet_threadpool_queue_length", "Work items waiting for a thread-pool thread.", ThreadPool.PendingWorkItemCount);
        });
    }

    private static void Gauge(PrometheusTextWriter writer, string name, string help, double value)
    {
        writer.WriteFamilyHeader(name, help, MetricType.Gauge);
        writer.WriteSample(name, value);
    }
}
