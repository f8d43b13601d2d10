using ModelMonitor.Testing.Tools;

namespace ModelMonitor.Deploy.Tests;

/// <summary>The real Prometheus/Alertmanager command-line tools, through the tests' one runner
/// (<see cref="ExternalTool"/>). A missing tool fails the test with the command that installs it: these checks
/// never skip.</summary>
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
        var (exitCode, output) = ExternalTool.RunAsync(ExternalTool.Require(tool, debianPackage), args, timeout: TimeSpan.FromMinutes(2), workingDirectory: workingDirectory)
            .GetAwaiter().GetResult();
        return new Result(exitCode, output);
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
