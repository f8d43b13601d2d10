using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace ModelMonitor.Testing.Processes;

/// <summary>
/// A program a test runs as its own process: one of the project's services (<see cref="StartDotnet"/>,
/// so a test can kill it with SIGKILL, no graceful step) or a server binary such as prometheus. Output is
/// kept for failure messages; Dispose kills the whole process tree whatever state the test is in.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    private const int KeptLines = 300;
    private readonly Process _process;
    private readonly Queue<string> _lines = new();
    private readonly List<string> _allOutput = [];
    private readonly bool _keepAll;

    private ChildProcess(string name, Process process, bool keepAll)
    {
        Name = name;
        _process = process;
        _keepAll = keepAll;
    }

    public string Name { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Starts <c>dotnet {assembly}.dll args</c> from the test's output directory; configuration keys
    /// (a:b) become environment variables (a__b).</summary>
    public static ChildProcess StartDotnet(string name, string assembly, IReadOnlyDictionary<string, string?> settings,
        IEnumerable<string>? arguments = null, bool keepAllOutput = false)
    {
        var directory = AppContext.BaseDirectory;
        var environment = new Dictionary<string, string?>
        {
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_gcServer"] = "0",
        };
        foreach (var (key, value) in settings)
        {
            environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }
        return Start(name, "dotnet", [Path.Combine(directory, assembly + ".dll"), .. arguments ?? []], environment, directory, keepAllOutput);
    }

    /// <summary>Starts any program with these arguments and extra environment variables.</summary>
    public static ChildProcess Start(string name, string fileName, IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string?>? environment = null, string? workingDirectory = null, bool keepAllOutput = false)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            start.Environment[key] = value;
        }

        var child = new ChildProcess(name, new Process { StartInfo = start }, keepAllOutput);
        child._process.OutputDataReceived += (_, e) => child.Keep(e.Data);
        child._process.ErrorDataReceived += (_, e) => child.Keep(e.Data);
        child._process.Start();
        child._process.BeginOutputReadLine();
        child._process.BeginErrorReadLine();
        return child;
    }

    /// <summary>A TCP port on 127.0.0.1 that was free a moment ago.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>SIGKILL: the process gets no chance to flush, commit or close anything.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM: a graceful stop (the generator then prints its summary and exits).</summary>
    public async Task TerminateAsync()
    {
        if (_process.HasExited)
        {
            return;
        }

        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", _process.Id.ToString(CultureInfo.InvariantCulture) }, UseShellExecute = false })
            ?? throw new InvalidOperationException("Could not run kill.");
        await kill.WaitForExitAsync();
    }

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            // The parameterless wait also drains the redirected output.
            await _process.WaitForExitAsync();
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Resident set size in bytes, from /proc/&lt;pid&gt;/status (VmRSS); null once the process is gone.</summary>
    public long? ResidentBytes()
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    var kilobytes = long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                    return kilobytes * 1024;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return null;
    }

    /// <summary>Polls <paramref name="url"/> until it answers 2xx; fails at once if the process exits.</summary>
    public async Task WaitUntilReadyAsync(HttpClient http, Uri url, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (HasExited)
            {
                throw new InvalidOperationException($"{Name} exited before {url} was ready.\n{Output()}");
            }

            try
            {
                using var response = await http.GetAsync(url);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"{Name} was not ready at {url} within {timeout}.\n{Output()}");
    }

    /// <summary>Every line written (only with keepAllOutput), e.g. the generator's summary.</summary>
    public IReadOnlyList<string> AllOutput()
    {
        lock (_lines)
        {
            return [.. _allOutput];
        }
    }

    /// <summary>The last lines the process wrote (stdout and stderr), for failure messages.</summary>
    public string Output(int lines = KeptLines)
    {
        lock (_lines)
        {
            var tail = _lines.Skip(Math.Max(0, _lines.Count - lines)).ToList();
            var state = _process.HasExited ? $", exited with {_process.ExitCode}" : "";
            return $"--- {Name} (pid {_process.Id}, last {tail.Count} lines{state}) ---\n{string.Join('\n', tail)}";
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }

        _process.Dispose();
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lines)
        {
            _lines.Enqueue(line);
            if (_lines.Count > KeptLines)
            {
                _lines.Dequeue();
            }

            if (_keepAll)
            {
                _allOutput.Add(line);
            }
        }
    }
}
