using System.Text.RegularExpressions;

namespace ModelMonitor.Deploy.Tests;

/// <summary>deploy/prometheus: configuration, recording and alert rules, and their promtool unit tests.</summary>
public sealed partial class PrometheusRulesTests
{
    private static readonly string RulesDir = Repo.File("deploy", "prometheus", "rules");
    private static readonly string TestsDir = Repo.File("deploy", "prometheus", "tests");

    private static string[] RuleFiles => Directory.GetFiles(RulesDir, "*.yml").Order(StringComparer.Ordinal).ToArray();

    private static string[] RuleTestFiles => Directory.GetFiles(TestsDir, "*.yml").Order(StringComparer.Ordinal).ToArray();

    internal sealed record Rule(string File, string Group, string? Alert, string? Record, string Expr,
        Dictionary<object, object?> Labels, Dictionary<object, object?> Annotations);

    internal static List<Rule> LoadRules() =>
        RuleFiles.SelectMany(file => Yaml.Load(file).List("groups").Maps().SelectMany(group =>
            group.List("rules").Maps().Select(rule => new Rule(
                Path.GetFileName(file), group.Str("name")!, rule.Str("alert"), rule.Str("record"), rule.Str("expr")!,
                rule.MapOrNull("labels") ?? [], rule.MapOrNull("annotations") ?? [])))).ToList();

    [Fact]
    public void Prometheus_config_is_valid_and_loads_every_rule_file()
    {
        // The config names the rules by their path inside the container; point it at the repository's.
        using var dir = new TempDir();
        var config = File.ReadAllText(Repo.File("deploy", "prometheus", "prometheus.yml"));
        Assert.Contains("/etc/prometheus/rules/*.yml", config, StringComparison.Ordinal);
        File.WriteAllText(dir.File("prometheus.yml"), config.Replace("/etc/prometheus/rules/*.yml", Path.Combine(RulesDir, "*.yml"), StringComparison.Ordinal));

        var result = Tool.Promtool("check", "config", dir.File("prometheus.yml"));

        Assert.True(result.ExitCode == 0, result.ToString());
        foreach (var file in RuleFiles)
        {
            Assert.Contains(file, result.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Prometheus_scrapes_the_three_services_on_their_compose_names()
    {
        var config = Yaml.Load(Repo.File("deploy", "prometheus", "prometheus.yml"));
        var jobs = config.List("scrape_configs").Maps().ToDictionary(job => job.Str("job_name")!);
        var targets = jobs.ToDictionary(
            job => job.Key,
            job => job.Value.List("static_configs").Maps().SelectMany(s => s.List("targets")).OfType<string>().ToList());

        Assert.Equal(["ingestion:8080"], targets["modelmonitor-ingestion"]);
        Assert.Equal(["aggregator:8080"], targets["modelmonitor-aggregator"]);
        Assert.Equal(["exporter:8080"], targets["modelmonitor-exporter"]);
        // The statistics have their own endpoint on the exporter.
        Assert.Equal(["exporter:8080"], targets["modelmonitor-statistics"]);
        Assert.Equal(ModelMonitor.Exporter.ExporterExtensions.StatisticsPath, jobs["modelmonitor-statistics"].Str("metrics_path"));
        var alertmanagers = config.Map("alerting").List("alertmanagers").Maps()
            .SelectMany(a => a.List("static_configs").Maps()).SelectMany(s => s.List("targets")).OfType<string>();
        Assert.Equal(["alertmanager:9093"], alertmanagers);
        Assert.StartsWith("http", config.Map("global").Map("external_labels").Str("grafana_url"), StringComparison.Ordinal);
    }

    [Fact]
    public void Rule_files_pass_promtool_check_rules()
    {
        var result = Tool.Promtool(["check", "rules", .. RuleFiles]);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(RuleFiles.Length, Regex.Count(result.Output, "SUCCESS"));
    }

    [Fact]
    public void Alert_unit_tests_pass_promtool_test_rules()
    {
        var result = Tool.Promtool(["test", "rules", .. RuleTestFiles]);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.DoesNotContain("FAILED", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_alert_has_a_unit_test_that_fires_it_and_one_that_expects_silence()
    {
        var firing = new HashSet<string>(StringComparer.Ordinal);
        var quiet = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in RuleTestFiles)
        {
            foreach (var test in Yaml.Load(file).List("tests").Maps())
            {
                foreach (var alertTest in test.List("alert_rule_test").Maps())
                {
                    var name = alertTest.Str("alertname")!;
                    (alertTest.List("exp_alerts").Count > 0 ? firing : quiet).Add(name);
                }
            }
        }

        foreach (var alert in LoadRules().Where(r => r.Alert is not null).Select(r => r.Alert!).Distinct())
        {
            Assert.True(firing.Contains(alert), $"{alert}: no promtool test expects it to fire");
            Assert.True(quiet.Contains(alert), $"{alert}: no promtool test expects it to stay quiet");
        }
    }

    [Fact]
    public void Unit_tests_fail_when_an_alert_threshold_changes()
    {
        // Proves the unit tests assert on the rules: the same tests against a rule file whose default
        // ratio threshold moved from 50% to 95% must fail.
        using var dir = new TempDir();
        Directory.CreateDirectory(Path.Combine(dir.Path, "rules"));
        Directory.CreateDirectory(Path.Combine(dir.Path, "tests"));
        var rules = File.ReadAllText(Path.Combine(RulesDir, "model-alerts.yml"));
        const string Threshold = "(modelmonitor_feature_default_ratio{window=~\"1m|5m\"}) > 0.5";
        Assert.Contains(Threshold, rules, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(dir.Path, "rules", "model-alerts.yml"), rules.Replace(Threshold, Threshold.Replace("0.5", "0.95", StringComparison.Ordinal), StringComparison.Ordinal));
        File.Copy(Path.Combine(TestsDir, "model-alerts.test.yml"), Path.Combine(dir.Path, "tests", "model-alerts.test.yml"));

        var result = Tool.Promtool("test", "rules", Path.Combine(dir.Path, "tests", "model-alerts.test.yml"));

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("ModelMonitorFeatureDefaultRatioHigh", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_alert_has_severity_summary_description_and_a_dashboard_link()
    {
        var dashboards = DashboardTests.LoadDashboards().ToDictionary(d => d.Uid, StringComparer.Ordinal);
        foreach (var rule in LoadRules().Where(r => r.Alert is not null))
        {
            Assert.Contains(rule.Labels.Str("severity"), new[] { "critical", "warning", "info" });
            Assert.False(string.IsNullOrWhiteSpace(rule.Annotations.Str("summary")), rule.Alert);
            if (!rule.Expr.StartsWith("absent(", StringComparison.Ordinal))
            {
                // The measured value, except for absent(), whose value is always 1.
                Assert.Contains("$value", rule.Annotations.Str("description") ?? "", StringComparison.Ordinal);
            }

            var link = rule.Annotations.Str("dashboard") ?? "";
            var match = DashboardLink().Match(link);
            Assert.True(match.Success, $"{rule.Alert}: dashboard annotation '{link}' is not a Grafana link built on the grafana_url external label");
            Assert.True(dashboards.TryGetValue(match.Groups["uid"].Value, out var dashboard), $"{rule.Alert}: no dashboard with uid {match.Groups["uid"].Value}");
            foreach (Match variable in LinkVariable().Matches(link))
            {
                Assert.Contains(variable.Groups["name"].Value, dashboard.Variables);
            }
        }
    }

    [Fact]
    public void Model_alerts_carry_the_labels_of_what_they_are_about()
    {
        var byName = LoadRules().Where(r => r.Alert is not null).ToLookup(r => r.Alert!);
        string[] perFeature = ["ModelMonitorFeatureDefaultRatioHigh", "ModelMonitorFeatureMissingRatioHigh", "ModelMonitorFeatureNonFiniteValues", "ModelMonitorFeatureTypeMismatch"];
        foreach (var name in perFeature)
        {
            Assert.Contains("max by (predictor_name, model_id, feature)", Assert.Single(byName[name]).Expr, StringComparison.Ordinal);
        }

        Assert.All(byName["ModelMonitorPredictionShift"], r => Assert.Contains("max by (predictor_name, model_id, window)", r.Expr, StringComparison.Ordinal));
        Assert.Contains("max by (predictor_name)", Assert.Single(byName["ModelMonitorPredictorStale"]).Expr, StringComparison.Ordinal);
        Assert.Equal("critical", Assert.Single(byName["ModelMonitorPredictorStale"]).Labels.Str("severity"));
    }

    [Fact]
    public void Rules_never_select_on_the_job_label_and_read_only_real_time_windows()
    {
        foreach (var rule in LoadRules())
        {
            Assert.DoesNotMatch(@"\bjob\s*(=|!=|=~|!~)", rule.Expr);
            if (rule.Expr.Contains("modelmonitor_feature_", StringComparison.Ordinal) || rule.Expr.Contains("modelmonitor_prediction_", StringComparison.Ordinal))
            {
                // Every selector of a windowed gauge restricts the window to the real-time sizes.
                foreach (Match selector in WindowedSelector().Matches(rule.Expr))
                {
                    Assert.Contains("window=~\"1m|5m\"", selector.Value, StringComparison.Ordinal);
                }
            }
        }
    }

    [Fact]
    public void Rules_use_only_metrics_of_the_catalogue()
    {
        foreach (var rule in LoadRules())
        {
            foreach (var name in PromQl.MetricNames(rule.Expr))
            {
                Assert.True(MetricCatalogue.SeriesNames.Contains(name), $"{rule.File}: {rule.Alert ?? rule.Record} reads {name}, which no service publishes");
            }
        }
    }

    [GeneratedRegex(@"^\{\{ \$externalLabels\.grafana_url \}\}/d/(?<uid>[a-z0-9-]+)/[a-z0-9-]+(\?|$)")]
    private static partial Regex DashboardLink();

    [GeneratedRegex(@"[?&]var-(?<name>\w+)=")]
    private static partial Regex LinkVariable();

    [GeneratedRegex(@"modelmonitor_(feature|prediction)_[a-z_]+\{[^}]*\}|modelmonitor_(feature|prediction)_[a-z_]+(?!\{)")]
    private static partial Regex WindowedSelector();
}
