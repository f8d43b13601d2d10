using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ModelMonitor.Benchmarks;

/// <summary>What the figures were measured on: printed at the start of every run.</summary>
internal static class Machine
{
    public static string Describe()
    {
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?"
            : "?";
        var memory = File.Exists("/proc/meminfo")
            ? File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]
            : "0";
        var load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "?";
        return string.Create(CultureInfo.InvariantCulture,
            $"machine: {Environment.ProcessorCount} cores, {long.Parse(memory, CultureInfo.InvariantCulture) / 1048576.0:F1} GiB, {cpu}; {System.Runtime.InteropServices.RuntimeInformation.OSDescription}; .NET {Environment.Version}; load average {load}; {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC");
    }
}

internal static class Stats
{
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[sorted.Length / 2];
    }

    /// <summary>Lower nearest rank, v[floor(q(n-1))] (the definition the sketch promises).</summary>
    public static double Quantile(IReadOnlyList<double> sorted, double q) =>
        sorted.Count == 0 ? double.NaN : sorted[(int)Math.Floor(q * (sorted.Count - 1))];

    public static string F(double value, int decimals = 0) => value.ToString("N" + decimals, CultureInfo.InvariantCulture);
}

/// <summary>A ModelMonitor service (or the demo generator) started as a child process from its Release output.</summary>
/// <remarks>
/// Child processes, not in-process hosts: each service then has its own GC, thread pool and RSS as in a
/// deployment, the load generator's allocations do not disturb the service's GC, the memory scenario
/// reads a real process's RSS, and the services are started exactly as `dotnet X.dll` would start them.
/// </remarks>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;

    private ChildProcess(Process process, StreamWriter log, string logPath)
    {
        _process = process;
        _log = log;
        LogPath = logPath;
    }

    public string LogPath { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Dll(string project) =>
        Path.Combine(RepoRoot, "src", project, "bin", "Release", "net10.0", project + ".dll");

    public static ChildProcess Start(string project, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, string logDirectory, Action<string>? onLine = null)
    {
        var dll = Dll(project);
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"{dll} is missing: build Release first (run.sh does).");
        }
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        // Warnings only: per-request information logs would be part of what is measured.
        start.Environment["Serilog__MinimumLevel__Default"] = "Warning";
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }
        var logPath = Path.Combine(logDirectory, $"{project}-{DateTime.UtcNow:HHmmssfff}.log");
        var log = new StreamWriter(logPath, append: false, Encoding.UTF8) { AutoFlush = true };
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {project}");
        void Line(string? text)
        {
            if (text is null)
            {
                return;
            }
            lock (log)
            {
                log.WriteLine(text);
            }
            onLine?.Invoke(text);
        }
        process.OutputDataReceived += (_, e) => Line(e.Data);
        process.ErrorDataReceived += (_, e) => Line(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ChildProcess(process, log, logPath);
    }

    /// <summary>Waits until GET url answers 200 (e.g. /readyz), or fails with the log's path.</summary>
    public async Task WaitHttpOkAsync(string url, TimeSpan timeout)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the service exited with {_process.ExitCode}; see {LogPath}");
            }
            try
            {
                using var response = await client.GetAsync(new Uri(url));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }
            await Task.Delay(200);
        }
        throw new TimeoutException($"{url} did not answer 200 within {timeout}; see {LogPath}");
    }

    public Task WaitForExitAsync(CancellationToken cancellationToken = default) => _process.WaitForExitAsync(cancellationToken);

    /// <summary>Resident set size (VmRSS) in bytes.</summary>
    public long RssBytes() => ReadRss(_process.Id);

    /// <summary>User + system CPU time of the process so far.</summary>
    public TimeSpan CpuTime()
    {
        _process.Refresh();
        return _process.TotalProcessorTime;
    }

    public static long ReadRss(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>SIGTERM (graceful: the service flushes), then SIGKILL after a grace period.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        _process.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }

    public static int FreePort() => ModelMonitor.Testing.Processes.ChildProcess.FreePort();

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ModelMonitor.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("ModelMonitor.sln not found above " + AppContext.BaseDirectory);
    }
}
