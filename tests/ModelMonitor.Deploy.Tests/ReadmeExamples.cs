using System.Text.RegularExpressions;
using ModelMonitor.Testing.Tools;
using Npgsql;

namespace ModelMonitor.Deploy.Tests;

/// <summary>One shell example of the README: a ```bash block, where it starts, and what its output must contain.</summary>
internal sealed record ReadmeExample(int Line, string Script, IReadOnlyList<string> Expected);

/// <summary>Where the examples' default local-run addresses point in a test run.</summary>
internal sealed record ExampleTargets(string Api, string Prometheus, string Alertmanager, string PostgresConnectionString, string StateDirectory,
    string Topic);

/// <summary>
/// The README's executable documentation: every ```bash block (fence at column 0) is an example a newcomer runs, in
/// order, from the repository's root, against `./run.sh` on its default ports; the `&lt;!-- expect: … --&gt;` lines
/// just before a block say what its output must contain. The examples are read from the README itself (no copies),
/// with the default addresses pointed at the test's pipeline.
/// </summary>
internal static partial class ReadmeExamples
{
    public static IReadOnlyList<ReadmeExample> Extract(string markdown)
    {
        var lines = markdown.Split('\n');
        var examples = new List<ReadmeExample>();
        var expected = new List<string>();
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (Expect().Match(line) is { Success: true } expect)
            {
                expected.Add(expect.Groups["text"].Value);
                continue;
            }
            if (line != "```bash")
            {
                expected.Clear();
                continue;
            }
            var start = i + 1;
            var end = start;
            while (end < lines.Length && lines[end].TrimEnd('\r') != "```")
            {
                end++;
            }
            examples.Add(new ReadmeExample(start + 1, string.Join('\n', lines[start..end]), [.. expected]));
            expected.Clear();
            i = end;
        }
        return examples;
    }

    /// <summary>The example with the local run's defaults replaced by <paramref name="targets"/>.</summary>
    public static string Localize(string script, ExampleTargets targets)
    {
        var postgres = new NpgsqlConnectionStringBuilder(targets.PostgresConnectionString);
        var url = $"postgresql://{Uri.EscapeDataString(postgres.Username!)}:{Uri.EscapeDataString(postgres.Password ?? "")}@{postgres.Host}:{postgres.Port}/{postgres.Database}";
        return script
            .Replace("postgresql://modelmonitor:modelmonitor@127.0.0.1:55432/modelmonitor", url, StringComparison.Ordinal)
            .Replace("Host=127.0.0.1;Port=55432;Username=modelmonitor;Password=modelmonitor;Database=modelmonitor",
                $"Host={postgres.Host};Port={postgres.Port};Username={postgres.Username};Password={postgres.Password};Database={postgres.Database}", StringComparison.Ordinal)
            .Replace("http://127.0.0.1:8080", targets.Api, StringComparison.Ordinal)
            .Replace("http://127.0.0.1:9090", targets.Prometheus, StringComparison.Ordinal)
            .Replace("http://127.0.0.1:9093", targets.Alertmanager, StringComparison.Ordinal)
            .Replace(".local/", targets.StateDirectory.TrimEnd('/') + "/", StringComparison.Ordinal)
            .Replace("-t modelmonitor.predictions", "-t " + targets.Topic, StringComparison.Ordinal);
    }

    /// <summary>What is left of the local run's defaults after <see cref="Localize"/>: nothing, or the example would
    /// reach a running ./run.sh instead of the test's pipeline.</summary>
    public static IReadOnlyList<string> Leftovers(string localized) =>
        [.. DefaultAddress().Matches(localized).Select(m => m.Value)];

    /// <summary>Runs the examples in order (bash -euo pipefail, from the repository's root); a failing one is tried again a
    /// few seconds later, as a person would. Returns the failures, with the output of each.</summary>
    public static async Task<List<string>> RunAllAsync(IReadOnlyList<ReadmeExample> examples, ExampleTargets targets, Action beforeEach,
        Action<string> log)
    {
        var bash = ExternalTool.Require("bash", "bash");
        var failures = new List<string>();
        foreach (var example in examples)
        {
            var script = Localize(example.Script, targets);
            var outcome = "";
            var passed = false;
            for (var attempt = 1; attempt <= 3 && !passed; attempt++)
            {
                if (attempt > 1)
                {
                    await Task.Delay(TimeSpan.FromSeconds(3));
                }
                beforeEach();
                var (exitCode, output) = await ExternalTool.RunAsync(bash, ["-euo", "pipefail", "-c", $"cd '{Repo.Root}'\n{script}"],
                    timeout: TimeSpan.FromSeconds(180));
                var missing = example.Expected.Where(e => !output.Contains(e, StringComparison.Ordinal)).ToList();
                passed = exitCode == 0 && missing.Count == 0;
                outcome = $"exit {exitCode}{(missing.Count > 0 ? ", missing: " + string.Join(" | ", missing) : "")}\n{output}";
            }
            log($"README line {example.Line}: {(passed ? "ok" : "FAILED")}");
            if (!passed)
            {
                failures.Add($"README line {example.Line}:\n{script}\n--- {outcome}");
            }
        }
        return failures;
    }

    [GeneratedRegex("^<!-- expect: (?<text>.*) -->$")]
    private static partial Regex Expect();

    [GeneratedRegex(@"127\.0\.0\.1:(8080|9090|9093|55432)\b|Port=55432|\.local/|modelmonitor\.predictions")]
    private static partial Regex DefaultAddress();
}

/// <summary>The README's examples as files: found, each localizable, every expectation attached to a block.</summary>
public sealed class ReadmeExampleTests
{
    private static readonly ExampleTargets Targets = new("http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3",
        "Host=127.0.0.1;Port=4;Username=u;Password=p;Database=d", "/tmp/state", "topic.e2e");

    [Fact]
    public void Every_bash_example_points_only_at_the_test_pipeline_once_localized()
    {
        var examples = ReadmeExamples.Extract(File.ReadAllText(Repo.File("README.md")));

        Assert.True(examples.Count >= 8, $"only {examples.Count} bash examples in the README");
        foreach (var example in examples)
        {
            Assert.Empty(ReadmeExamples.Leftovers(ReadmeExamples.Localize(example.Script, Targets)));
        }
        // The first example a newcomer runs is acknowledged, with the current time and a predictor of its own.
        var first = examples[0];
        Assert.Contains("$(date -u +%FT%TZ)", first.Script, StringComparison.Ordinal);
        Assert.Contains("my_first_predictor", first.Script, StringComparison.Ordinal);
        Assert.Equal(["HTTP/1.1 202 Accepted"], first.Expected);
    }

    [Fact]
    public void Expectations_belong_to_the_block_that_follows_them()
    {
        var examples = ReadmeExamples.Extract("<!-- expect: a -->\n<!-- expect: b -->\n```bash\necho a b\n```\n<!-- expect: lost -->\ntext\n```bash\ntrue\n```\n```console\nno\n```\n");

        Assert.Equal(2, examples.Count);
        Assert.Equal(["a", "b"], examples[0].Expected);
        Assert.Equal("echo a b", examples[0].Script);
        Assert.Empty(examples[1].Expected);
        Assert.Equal(9, examples[1].Line);
    }
}
