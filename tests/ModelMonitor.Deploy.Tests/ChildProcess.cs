using System.Diagnostics;
using System.Text;

namespace ModelMonitor.Deploy.Tests;

/// <summary>A server the end-to-end test runs (the all-in-one host, Prometheus, Alertmanager): its output
/// is kept for failure messages, and Dispose kills its whole process tree, whatever state the test is in.</summary>
internal sealed class ChildProcess : IDisposable
{
    private const int KeptLines = 400;
    private readonly Process _process;
    private readonly Queue<string> _lines = new();

    private ChildProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }

    public bool HasExited => _process.HasExited;

    public static ChildProcess Start(string name, string fileName, IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var child = new ChildProcess(name, new Process { StartInfo = start });
        child._process.OutputDataReceived += (_, e) => child.Keep(e.Data);
        child._process.ErrorDataReceived += (_, e) => child.Keep(e.Data);
        child._process.Start();
        child._process.BeginOutputReadLine();
        child._process.BeginErrorReadLine();
        return child;
    }

    /// <summary>The last lines the process wrote (stdout and stderr), for failure messages.</summary>
    public string Output(int lines = 40)
    {
        lock (_lines)
        {
            var tail = _lines.Skip(Math.Max(0, _lines.Count - lines)).ToList();
            return $"--- {Name} (last {tail.Count} lines{(HasExited ? $", exited with {_process.ExitCode}" : "")}) ---\n{string.Join('\n', tail)}";
        }
    }

    /// <summary>Polls <paramref name="url"/> until it answers 2xx; fails early if the process exits.</summary>
    public async Task WaitUntilReadyAsync(HttpClient http, string url, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (HasExited)
            {
                throw new InvalidOperationException($"{Name} exited before {url} was ready.\n{Output()}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri(url));
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

            await Task.Delay(200);
        }

        throw new TimeoutException($"{Name} was not ready at {url} within {timeout}.\n{Output()}");
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
        }
    }
}
