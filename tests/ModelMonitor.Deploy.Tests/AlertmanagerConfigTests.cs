namespace ModelMonitor.Deploy.Tests;

/// <summary>deploy/alertmanager/alertmanager.yml, checked and routed by the real amtool.</summary>
public sealed class AlertmanagerConfigTests
{
    private static readonly string Config = Repo.File("deploy", "alertmanager", "alertmanager.yml");

    [Fact]
    public void Alertmanager_config_passes_amtool_check_config()
    {
        var result = Tool.Amtool("check-config", Config);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("SUCCESS", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("critical", "modelmonitor-critical")]
    [InlineData("warning", "modelmonitor-warning")]
    public void Alerts_route_by_severity(string severity, string receiver)
    {
        var result = Tool.Amtool("config", "routes", "test", "--config.file=" + Config, "--verify.receivers=" + receiver,
            "alertname=ModelMonitorFeatureDefaultRatioHigh", "severity=" + severity, "predictor_name=eta");

        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [Fact]
    public void Routing_check_fails_for_the_wrong_receiver()
    {
        var result = Tool.Amtool("config", "routes", "test", "--config.file=" + Config, "--verify.receivers=modelmonitor-warning", "severity=critical");

        Assert.NotEqual(0, result.ExitCode);
    }

    [Fact]
    public void Every_severity_the_rules_use_has_a_route_and_receivers_are_webhooks()
    {
        var config = Yaml.Load(Config);
        var receivers = config.List("receivers").Maps().ToDictionary(r => r.Str("name")!, StringComparer.Ordinal);
        Assert.All(receivers.Values, r => Assert.NotEmpty(r.List("webhook_configs")));

        var severities = PrometheusRulesTests.LoadRules().Where(r => r.Alert is not null).Select(r => r.Labels.Str("severity")!).Distinct();
        foreach (var severity in severities)
        {
            var result = Tool.Amtool("config", "routes", "test", "--config.file=" + Config, "severity=" + severity);
            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Contains($"modelmonitor-{severity}", result.Output, StringComparison.Ordinal);
        }
    }
}
