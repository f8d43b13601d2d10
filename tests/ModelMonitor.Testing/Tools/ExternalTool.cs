using System.Diagnostics;

namespace ModelMonitor.Testing.Tools;

/// <summary>Runs a command-line tool the tests depend on (promtool, amtool...), failing clearly when it is missing.</summary>
public static class ExternalTool
{
    /// <summary>Full path of <paramref name="name"/> on PATH, or a failure saying which Debian package to install.</summary>
    public static string Require(string name, string debianPackage)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException($"'{name}' is not installed: run `apt-get install -y --no-install-recommends {debianPackage}` (the test command ./test.sh does it).");
    }

    /// <summary>Runs the tool to completion with optional standard input; returns exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string path, IEnumerable<string> arguments, string? standardInput = null,
        TimeSpan? timeout = null, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(path)
        {
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (standardInput is not null)
        {
            await process.StandardInput.WriteAsync(standardInput);
        }
        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{path} did not finish within {timeout ?? TimeSpan.FromSeconds(60)}.");
        }
        return (process.ExitCode, await stdout + await stderr);
    }
}
