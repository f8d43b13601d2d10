using ModelMonitor.Storage.Statistics;
using ModelMonitor.Testing.Tools;
using static ModelMonitor.Exporter.Tests.Snapshots;

namespace ModelMonitor.Exporter.Tests;

/// <summary>The exposition through the real `promtool check metrics` (Debian package prometheus).</summary>
public sealed class PromtoolCheckMetricsTests
{
    [Fact]
    public void Rendered_statistics_pass_promtool_check_metrics()
    {
        var snapshot = new StatisticsSnapshot(
            [Model("eta", "eta-v1"), Model("eta", "eta-v2"), Model("fraud", "f-1")],
            [Window(300, [ModelWindow("eta", "eta-v1", 40), ModelWindow("eta", "eta-v2", 5)],
                [Feature("eta", "eta-v1", "dist \"km\"\\raw\nv2", 40, defaults: 3, nonfinite: 1),
                 Feature("eta", "eta-v1", "platform", 40, numeric: false, categories: "{\"ios\": 30, \"android\": 10}", categorical: 40),
                 Feature("eta", "eta-v2", "ünïcode ✓", 5)],
                earlier: [new ModelFeature("eta", "eta-v1", "gone")]),
             Window(3600, [ModelWindow("eta", "eta-v1", 400)], [Feature("eta", "eta-v1", "platform", 400)])]);
        var bytes = ExpositionRenderer.Render(snapshot, new ExporterOptions()).Bytes.ToArray();

        var (exitCode, output) = PromtoolCheckMetrics(bytes);

        // Exit 1 is a parse error; exit 3 means lint findings only. The metric catalogue is a fixed public
        // contract that promtool's naming lint does not like in exactly two ways (documented in
        // docs/exporter.md): gauges named *_count, and gauges with a quantile label. Anything else fails.
        Assert.True(exitCode is 0 or 3, output);
        Assert.DoesNotContain("error", output, StringComparison.OrdinalIgnoreCase);
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            Assert.True(
                AcceptedLint.Any(accepted => line.EndsWith(accepted, StringComparison.Ordinal)) &&
                (line.StartsWith("modelmonitor_feature_", StringComparison.Ordinal) || line.StartsWith("modelmonitor_prediction_", StringComparison.Ordinal)),
                $"promtool: {line}");
        }
    }

    private static readonly string[] AcceptedLint =
    [
        "_count non-histogram and non-summary metrics should not have \"_count\" suffix",
        "_quantile non-summary metrics should not have \"quantile\" label",
    ];

    [Fact]
    public void Promtool_check_metrics_rejects_a_broken_exposition()
    {
        var (exitCode, _) = PromtoolCheckMetrics("modelmonitor_feature_count{feature=\"a\"b\"} 1\n"u8.ToArray());

        Assert.NotEqual(0, exitCode);
    }

    internal static (int ExitCode, string Output) PromtoolCheckMetrics(byte[] exposition) =>
        ExternalTool.RunAsync(ExternalTool.Require("promtool", "prometheus"), ["check", "metrics"], System.Text.Encoding.UTF8.GetString(exposition))
            .GetAwaiter().GetResult();
}
