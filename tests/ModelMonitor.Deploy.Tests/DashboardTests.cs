using System.Text.Json;
using System.Text.RegularExpressions;

namespace ModelMonitor.Deploy.Tests;

/// <summary>grafana-dashboards/: the dashboard JSON and its provisioning. Grafana itself cannot be
/// installed here, so the checks are structural, plus every PromQL expression through the real
/// Prometheus parser.</summary>
public sealed partial class DashboardTests
{
    private const string PrometheusType = "prometheus";
    private const string PostgresType = "grafana-postgresql-datasource";

    internal sealed record Target(string PanelTitle, string DatasourceUid, string? Expr, string? RawSql);

    internal sealed record Dashboard(string File, string Uid, JsonElement Root, List<JsonElement> Panels,
        HashSet<string> Variables, List<(string Name, string DatasourceUid, string Query)> VariableQueries, List<Target> Targets);

    internal static List<Dashboard> LoadDashboards()
    {
        var dashboards = new List<Dashboard>();
        foreach (var file in Directory.GetFiles(Repo.File("grafana-dashboards"), "*.json").Order(StringComparer.Ordinal))
        {
            var root = JsonDocument.Parse(File.ReadAllText(file)).RootElement;
            var panels = new List<JsonElement>();
            foreach (var panel in root.GetProperty("panels").EnumerateArray())
            {
                panels.Add(panel);
                if (panel.TryGetProperty("panels", out var nested))
                {
                    panels.AddRange(nested.EnumerateArray());
                }
            }

            var variables = new HashSet<string>(StringComparer.Ordinal);
            var queries = new List<(string, string, string)>();
            foreach (var variable in root.GetProperty("templating").GetProperty("list").EnumerateArray())
            {
                var name = variable.GetProperty("name").GetString()!;
                variables.Add(name);
                if (variable.GetProperty("type").GetString() == "query")
                {
                    var query = variable.GetProperty("query");
                    var text = query.ValueKind == JsonValueKind.String ? query.GetString()! : query.GetProperty("query").GetString()!;
                    queries.Add((name, variable.GetProperty("datasource").GetProperty("uid").GetString()!, text));
                }
            }

            var targets = new List<Target>();
            foreach (var panel in panels.Where(p => p.TryGetProperty("targets", out _)))
            {
                var title = panel.GetProperty("title").GetString()!;
                var panelUid = panel.GetProperty("datasource").GetProperty("uid").GetString()!;
                foreach (var target in panel.GetProperty("targets").EnumerateArray())
                {
                    var uid = target.TryGetProperty("datasource", out var ds) ? ds.GetProperty("uid").GetString()! : panelUid;
                    targets.Add(new Target(title, uid,
                        target.TryGetProperty("expr", out var expr) ? expr.GetString() : null,
                        target.TryGetProperty("rawSql", out var sql) ? sql.GetString() : null));
                }
            }

            dashboards.Add(new Dashboard(Path.GetFileName(file), root.GetProperty("uid").GetString()!, root, panels, variables, queries, targets));
        }

        return dashboards;
    }

    /// <summary>uid -> type of the provisioned data sources.</summary>
    private static Dictionary<string, string> ProvisionedDatasources() =>
        Directory.GetFiles(Repo.File("grafana-dashboards", "provisioning", "datasources"), "*.yml")
            .SelectMany(f => Yaml.Load(f).List("datasources").Maps())
            .ToDictionary(d => d.Str("uid")!, d => d.Str("type")!, StringComparer.Ordinal);

    [Fact]
    public void The_six_dashboards_exist_with_unique_uids()
    {
        var dashboards = LoadDashboards();

        Assert.Equal(["modelmonitor-drift", "modelmonitor-evaluation", "modelmonitor-features", "modelmonitor-overview", "modelmonitor-pipeline", "modelmonitor-predictor"], dashboards.Select(d => d.Uid).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Panel_ids_are_unique_within_each_dashboard_and_panels_have_a_position()
    {
        foreach (var dashboard in LoadDashboards())
        {
            var ids = dashboard.Panels.Select(p => p.GetProperty("id").GetInt32()).ToList();
            Assert.True(ids.Count == ids.Distinct().Count(), $"{dashboard.File}: duplicate panel ids");
            foreach (var panel in dashboard.Panels)
            {
                var grid = panel.GetProperty("gridPos");
                Assert.InRange(grid.GetProperty("x").GetInt32() + grid.GetProperty("w").GetInt32(), 1, 24);
            }
        }
    }

    [Fact]
    public void Every_data_source_reference_is_a_provisioned_uid_of_the_right_type()
    {
        var provisioned = ProvisionedDatasources();
        Assert.Equal(PrometheusType, provisioned["modelmonitor-prometheus"]);
        Assert.Equal(PostgresType, provisioned["modelmonitor-postgres"]);

        foreach (var dashboard in LoadDashboards())
        {
            foreach (var element in DatasourceReferences(dashboard.Root))
            {
                var uid = element.GetProperty("uid").GetString()!;
                if (uid == "-- Grafana --")
                {
                    continue; // Grafana's built-in annotation source.
                }

                Assert.True(provisioned.TryGetValue(uid, out var type), $"{dashboard.File}: data source uid '{uid}' is not provisioned");
                Assert.Equal(type, element.GetProperty("type").GetString());
            }

            foreach (var target in dashboard.Targets)
            {
                Assert.True(target.DatasourceUid == "modelmonitor-prometheus" ? target.Expr is not null : target.RawSql is not null,
                    $"{dashboard.File}: '{target.PanelTitle}' has a query of the wrong kind for its data source");
            }
        }
    }

    [Fact]
    public void Every_variable_used_is_defined_and_repeats_use_multi_value_variables()
    {
        foreach (var dashboard in LoadDashboards())
        {
            var texts = dashboard.Targets.Select(t => t.Expr ?? t.RawSql!)
                .Concat(dashboard.VariableQueries.Select(q => q.Query))
                .Concat(dashboard.Panels.Select(p => p.GetProperty("title").GetString()!));
            foreach (var text in texts)
            {
                foreach (Match use in VariableUse().Matches(text))
                {
                    var name = use.Groups["name"].Value;
                    Assert.True(name.StartsWith("__", StringComparison.Ordinal) || dashboard.Variables.Contains(name), $"{dashboard.File}: ${name} is not a variable of the dashboard");
                }
            }

            foreach (var panel in dashboard.Panels.Where(p => p.TryGetProperty("repeat", out _)))
            {
                var repeat = panel.GetProperty("repeat").GetString()!;
                var variable = dashboard.Root.GetProperty("templating").GetProperty("list").EnumerateArray().Single(v => v.GetProperty("name").GetString() == repeat);
                Assert.True(variable.GetProperty("multi").GetBoolean());
            }
        }
    }

    [Fact]
    public void Feature_dashboard_repeats_a_row_of_panels_per_feature()
    {
        var features = LoadDashboards().Single(d => d.Uid == "modelmonitor-features");
        var row = Assert.Single(features.Panels, p => p.GetProperty("type").GetString() == "row" && p.TryGetProperty("repeat", out _));
        Assert.Equal("feature", row.GetProperty("repeat").GetString());
        var metricsInRepeatedPanels = features.Targets.Where(t => t.PanelTitle.StartsWith("$feature", StringComparison.Ordinal)).Select(t => t.Expr!).ToList();
        foreach (var metric in new[] { "modelmonitor_feature_quantile", "modelmonitor_feature_mean", "modelmonitor_feature_default_ratio", "modelmonitor_feature_missing_ratio", "modelmonitor_feature_nonfinite_ratio", "modelmonitor_feature_category_ratio" })
        {
            Assert.Contains(metricsInRepeatedPanels, e => e.Contains(metric, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Every_PromQL_expression_parses_with_promtool()
    {
        var expressions = new List<string>();
        foreach (var dashboard in LoadDashboards())
        {
            expressions.AddRange(dashboard.Targets.Where(t => t.Expr is not null).Select(t => SubstituteVariables(t.Expr!)));
            foreach (var (name, _, query) in dashboard.VariableQueries)
            {
                var labelValues = LabelValues().Match(query);
                Assert.True(labelValues.Success, $"{dashboard.File}: variable {name} is not a label_values(selector, label) query");
                expressions.Add(SubstituteVariables(labelValues.Groups["selector"].Value));
            }
        }

        Assert.True(expressions.Count > 50, $"only {expressions.Count} expressions found");
        var result = PromQl.Check(expressions);

        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [Fact]
    public void The_PromQL_check_rejects_a_broken_expression()
    {
        // The scratch-rules approach above must be able to fail.
        var result = PromQl.Check(["sum(rate(http_requests_received_total[5m])", "up"]);

        Assert.NotEqual(0, result.ExitCode);
    }

    [Fact]
    public void Dashboards_use_only_metrics_of_the_catalogue_and_never_the_job_label_as_a_filter()
    {
        foreach (var dashboard in LoadDashboards())
        {
            var expressions = dashboard.Targets.Where(t => t.Expr is not null).Select(t => t.Expr!).Concat(dashboard.VariableQueries.Select(q => q.Query));
            foreach (var expr in expressions)
            {
                Assert.DoesNotMatch(@"\bjob\s*(=|!=|=~|!~)", expr);
                foreach (var name in PromQl.MetricNames(expr))
                {
                    Assert.True(MetricCatalogue.SeriesNames.Contains(name), $"{dashboard.File}: {name} is not a published metric");
                }
            }
        }
    }

    [Fact]
    public void Dashboard_provider_reads_the_directory_docker_compose_mounts()
    {
        var provider = Assert.Single(Yaml.Load(Repo.File("grafana-dashboards", "provisioning", "dashboards", "modelmonitor.yml")).List("providers").Maps());
        var path = provider.Map("options").Str("path");

        var grafana = Yaml.Load(Repo.File("docker-compose.yml")).Map("services").Map("grafana");
        var mounts = grafana.List("volumes").OfType<string>().ToList();
        Assert.Contains($"./grafana-dashboards:{path}:ro", mounts);
        Assert.Contains("./grafana-dashboards/provisioning:/etc/grafana/provisioning:ro", mounts);

        // Environment variables the data source file expands must be set for the container.
        var environment = grafana.Map("environment");
        var datasources = File.ReadAllText(Repo.File("grafana-dashboards", "provisioning", "datasources", "modelmonitor.yml"));
        foreach (Match variable in EnvironmentUse().Matches(datasources))
        {
            Assert.True(environment.ContainsKey(variable.Groups["name"].Value), $"grafana needs {variable.Groups["name"].Value}");
        }
    }

    private static string SubstituteVariables(string expr) => VariableUse().Replace(expr, m => m.Groups["name"].Value switch
    {
        "__rate_interval" or "__interval" => "1m",
        "__range" => "1h",
        _ => "value",
    });

    private static IEnumerable<JsonElement> DatasourceReferences(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in element.EnumerateObject())
            {
                if (property.Name == "datasource" && property.Value.ValueKind == JsonValueKind.Object)
                {
                    yield return property.Value;
                }

                foreach (var nested in DatasourceReferences(property.Value))
                {
                    yield return nested;
                }
            }
        }
        else if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in element.EnumerateArray())
            {
                foreach (var nested in DatasourceReferences(item))
                {
                    yield return nested;
                }
            }
        }
    }

    [GeneratedRegex(@"\$\{(?<name>\w+)(:\w+)?\}|\$(?<name>\w+)")]
    private static partial Regex VariableUse();

    [GeneratedRegex(@"^label_values\((?<selector>.+),\s*(?<label>\w+)\)$")]
    private static partial Regex LabelValues();

    [GeneratedRegex(@"\$\{(?<name>[A-Z_]+)\}")]
    private static partial Regex EnvironmentUse();
}
