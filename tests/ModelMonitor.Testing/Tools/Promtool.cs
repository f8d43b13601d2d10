namespace ModelMonitor.Testing.Tools;

/// <summary>`promtool check metrics` (Debian package prometheus) on a scraped exposition.</summary>
public static class Promtool
{
    /// <summary>
    /// The exposition parses, and lint finds nothing of ours. The only lint accepted is on the .NET runtime's own
    /// meter as prometheus-net names it: counts that are gauges (<c>system_runtime_dotnet_assembly_count</c>,
    /// <c>..._thread_pool_thread_count</c>, <c>..._process_cpu_count</c>) trip the "_count suffix" rule.
    /// </summary>
    public static async Task AssertValidMetricsAsync(string exposition)
    {
        var (exitCode, output) = await ExternalTool.RunAsync(ExternalTool.Require("promtool", "prometheus"), ["check", "metrics"], exposition);
        var findings = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(line => !(line.StartsWith("system_runtime_", StringComparison.Ordinal) && line.EndsWith("should not have \"_count\" suffix", StringComparison.Ordinal)))
            .ToList();
        Assert.True(exitCode is 0 or 3 && findings.Count == 0, $"promtool check metrics ({exitCode}):\n{output}");
    }
}
