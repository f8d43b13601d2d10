using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace ModelMonitor.Deploy.Tests;

/// <summary>Parses PromQL with the real Prometheus parser: each expression becomes a recording rule
/// in a scratch rules file checked by `promtool check rules`.</summary>
internal static partial class PromQl
{
    public static Tool.Result Check(IReadOnlyList<string> expressions)
    {
        using var dir = new TempDir();
        var rules = new StringBuilder("groups:\n  - name: expressions\n    rules:\n");
        for (var i = 0; i < expressions.Count; i++)
        {
            rules.Append(CultureInfo.InvariantCulture, $"      - record: expression:number_{i}\n");
            // A literal block keeps quotes and backslashes of the expression exactly as written.
            rules.Append("        expr: |-\n");
            foreach (var line in expressions[i].Split('\n'))
            {
                rules.Append("          ").Append(line).Append('\n');
            }
        }

        File.WriteAllText(dir.File("expressions.yml"), rules.ToString());
        return Tool.Promtool("check", "rules", dir.File("expressions.yml"));
    }

    /// <summary>Metric names an expression reads (not recording-rule names, which contain colons).</summary>
    public static IEnumerable<string> MetricNames(string expression) =>
        MetricName().Matches(StringLiteral().Replace(expression, "\"\"")).Select(m => m.Value).Distinct();

    [GeneratedRegex(@"(?<![\w:])(modelmonitor_[a-z0-9_]+|process_[a-z0-9_]+|dotnet_[a-z0-9_]+)(?![\w:])")]
    private static partial Regex MetricName();

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"")]
    private static partial Regex StringLiteral();
}
