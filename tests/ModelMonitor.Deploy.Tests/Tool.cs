using System.Diagnostics;
using System.Text;

namespace ModelMonitor.Deploy.Tests;

/// <summary>Runs the real Prometheus/Alertmanager command-line tools. A missing tool fails the test
/// with the command that installs it: these checks never skip.</summary>
internal static class Tool
{
    public sealed record Result(int ExitCode, string Output)
    {
        public override string ToString() => $"exit {ExitCode}:\n{Output}";
    }

    public static Result Promtool(params string[] args) => Run("promtool", "prometheus", args);

    public static Result Amtool(params string[] args) => Run("amtool", "prometheus-alertmanager", args);

    public static Result Run(string tool, string debianPackage, IEnumerable<string> args, string? workingDirectory = null)
    {
        var path = Find(tool) ?? throw new InvalidOperationException(
            $"'{tool}' is not installed. Install it with: apt-get install -y --no-install-recommends prometheus prometheus-alertmanager " +
            $"(it comes with the Debian package {debianPackage}).");
        var start = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        var lockObject = new object();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (lockObject) { output.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (lockObject) { output.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} {string.Join(' ', args)} did not finish in 2 minutes");
        }

        process.WaitForExit();
        lock (lockObject)
        {
            return new Result(process.ExitCode, output.ToString());
        }
    }

    private static string? Find(string tool)
    {
        var pathVariable = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in pathVariable.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Append("/usr/bin"))
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}

/// <summary>A directory under /tmp removed at dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "modelmonitor-deploy-" + Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
