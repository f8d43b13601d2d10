using System.Text.RegularExpressions;

namespace ModelMonitor.Deploy.Tests;

/// <summary>docker-compose.yml cannot run here (no Docker engine): it is parsed, and everything it
/// refers to must exist: services, build contexts, Dockerfile, projects, mounted files, ports.</summary>
public sealed partial class ComposeTests
{
    private static readonly string[] ModelMonitorServices = ["ingestion", "aggregator", "exporter"];

    private static Dictionary<object, object?> Services => Yaml.Load(Repo.File("docker-compose.yml")).Map("services");

    [Fact]
    public void Compose_file_has_every_service_of_the_deployment()
    {
        Assert.Equal(
            ["aggregator", "alertmanager", "demo-traffic", "exporter", "grafana", "ingestion", "kafka", "postgres", "prometheus"],
            Services.Keys.Cast<string>().Order(StringComparer.Ordinal));
        Assert.StartsWith("apache/kafka:", Services.Map("kafka").Str("image"), StringComparison.Ordinal);
        Assert.Equal("postgres:15", Services.Map("postgres").Str("image"));
        Assert.Equal("broker,controller", Services.Map("kafka").Map("environment").Str("KAFKA_PROCESS_ROLES"));
    }

    [Fact]
    public void Every_build_points_at_the_Dockerfile_and_an_existing_project()
    {
        foreach (var (name, service) in Services.Select(s => ((string)s.Key, (Dictionary<object, object?>)s.Value!)))
        {
            var build = service.MapOrNull("build");
            if (build is null)
            {
                Assert.NotNull(service.Str("image"));
                continue;
            }

            var context = Path.GetFullPath(Path.Combine(Repo.Root, build.Str("context")!));
            Assert.True(Directory.Exists(context), $"{name}: build context {context} missing");
            Assert.True(File.Exists(Path.Combine(context, build.Str("dockerfile")!)), $"{name}: Dockerfile missing");
            var project = build.Map("args").Str("PROJECT")!;
            Assert.True(File.Exists(Path.Combine(context, "src", project, project + ".csproj")), $"{name}: project {project} missing");
        }

        Assert.Equal(["--url", "http://ingestion:8080"], Services.Map("demo-traffic").List("command").Cast<string>());
    }

    [Fact]
    public void Services_listen_on_8080_inside_and_host_ports_do_not_clash()
    {
        var hostPorts = new List<string>();
        foreach (var (name, service) in Services.Select(s => ((string)s.Key, (Dictionary<object, object?>)s.Value!)))
        {
            foreach (var port in service.List("ports").Cast<string>())
            {
                var parts = port.Split(':');
                Assert.Equal(2, parts.Length);
                hostPorts.Add(parts[0]);
                if (ModelMonitorServices.Contains(name))
                {
                    Assert.Equal("8080", parts[1]);
                }
            }
        }

        Assert.Equal(hostPorts.Count, hostPorts.Distinct().Count());
        Assert.Contains("3000", hostPorts);
        Assert.Contains("8080", hostPorts);
    }

    [Fact]
    public void Every_mounted_file_exists_and_named_volumes_are_declared()
    {
        var compose = Yaml.Load(Repo.File("docker-compose.yml"));
        var volumes = compose.Map("volumes").Keys.Cast<string>().ToHashSet(StringComparer.Ordinal);
        var mounts = 0;
        foreach (var (name, service) in Services.Select(s => ((string)s.Key, (Dictionary<object, object?>)s.Value!)))
        {
            foreach (var volume in service.List("volumes").Cast<string>())
            {
                var source = volume.Split(':')[0];
                if (source.StartsWith('.') || source.StartsWith('/'))
                {
                    var path = Path.GetFullPath(Path.Combine(Repo.Root, source));
                    Assert.True(File.Exists(path) || Directory.Exists(path), $"{name}: {source} does not exist");
                    mounts++;
                }
                else
                {
                    Assert.True(volumes.Contains(source), $"{name}: named volume {source} not declared");
                }
            }
        }

        Assert.True(mounts >= 5, $"only {mounts} bind mounts");
    }

    [Fact]
    public void Mount_targets_match_the_paths_the_configs_use()
    {
        var prometheus = Services.Map("prometheus");
        var mounts = prometheus.List("volumes").Cast<string>().ToList();
        Assert.Contains("./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro", mounts);
        Assert.Contains("./deploy/prometheus/rules:/etc/prometheus/rules:ro", mounts);
        Assert.Contains("--config.file=/etc/prometheus/prometheus.yml", prometheus.List("command").Cast<string>());
        var ruleFiles = Yaml.Load(Repo.File("deploy", "prometheus", "prometheus.yml")).List("rule_files").Cast<string>();
        Assert.Equal(["/etc/prometheus/rules/*.yml"], ruleFiles);

        var alertmanager = Services.Map("alertmanager");
        Assert.Contains("./deploy/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro", alertmanager.List("volumes").Cast<string>());
        Assert.Contains("--config.file=/etc/alertmanager/alertmanager.yml", alertmanager.List("command").Cast<string>());

        // Grafana's home dashboard is one of the mounted dashboard files.
        var home = Services.Map("grafana").Map("environment").Str("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")!;
        Assert.True(File.Exists(Repo.File("grafana-dashboards", Path.GetFileName(home))), home);
    }

    [Fact]
    public void Dependencies_exist_and_wait_for_health_checks()
    {
        var services = Services;
        foreach (var (name, service) in services.Select(s => ((string)s.Key, (Dictionary<object, object?>)s.Value!)))
        {
            foreach (var (dependency, condition) in (service.MapOrNull("depends_on") ?? []).Select(d => ((string)d.Key, ((Dictionary<object, object?>)d.Value!).Str("condition"))))
            {
                Assert.True(services.ContainsKey(dependency), $"{name} depends on unknown {dependency}");
                Assert.Equal("service_healthy", condition);
                var target = services.Map(dependency);
                var hasOwnCheck = target.MapOrNull("healthcheck") is { } check && check.Str("disable") != "true";
                var checkFromDockerfile = target.MapOrNull("build") is not null && target.MapOrNull("healthcheck") is null;
                Assert.True(hasOwnCheck || checkFromDockerfile, $"{name} waits for {dependency}, which has no health check");
            }
        }

        Assert.Contains("kafka", services.Map("ingestion").Map("depends_on").Keys.Cast<string>());
        Assert.Contains("postgres", services.Map("aggregator").Map("depends_on").Keys.Cast<string>());
    }

    [Fact]
    public void ModelMonitor_services_get_their_settings_through_configuration_keys()
    {
        foreach (var name in ModelMonitorServices)
        {
            var environment = Services.Map(name).Map("environment");
            Assert.Equal("kafka:9092", environment.Str("Kafka__BootstrapServers"));
            Assert.Contains("Host=postgres", environment.Str("ConnectionStrings__Postgres"), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Prometheus_and_Alertmanager_build_links_on_an_address_people_open()
    {
        // Without it their links name the container (http://<container id>:9090/...), which no browser reaches.
        foreach (var name in new[] { "prometheus", "alertmanager" })
        {
            var command = ((List<object>)Services.Map(name)["command"]!).Cast<string>().ToList();
            Assert.Contains(command, c => c.StartsWith("--web.external-url=http://localhost:", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Services_run_as_Production_in_compose_the_image_and_the_local_run()
    {
        // Development would turn on ASP.NET Core's developer pages; errors must never show a stack trace.
        foreach (var name in ModelMonitorServices.Append("demo-traffic"))
        {
            var environment = Services.Map(name).MapOrNull("environment");
            foreach (var key in new[] { "ASPNETCORE_ENVIRONMENT", "DOTNET_ENVIRONMENT" })
            {
                Assert.True(environment?.Str(key) is null or "Production", $"{name}: {key}={environment?.Str(key)}");
            }
        }
        Assert.DoesNotMatch("(ASPNETCORE|DOTNET)_ENVIRONMENT=(?!Production)", File.ReadAllText(Repo.File("deploy/Dockerfile")));
        Assert.DoesNotMatch("(ASPNETCORE|DOTNET)_ENVIRONMENT=(?!Production)", File.ReadAllText(Repo.File("run.sh")));
    }

    [Fact]
    public void Dockerfile_builds_on_the_dotnet_10_images_and_runs_as_non_root_with_a_health_check()
    {
        var dockerfile = File.ReadAllText(Repo.File("deploy", "Dockerfile"));

        Assert.Matches(@"(?m)^FROM mcr\.microsoft\.com/dotnet/sdk:\$\{DOTNET_VERSION\} AS build$", dockerfile);
        Assert.Matches(@"(?m)^FROM mcr\.microsoft\.com/dotnet/aspnet:\$\{DOTNET_VERSION\} AS runtime$", dockerfile);
        Assert.Matches(@"(?m)^ARG DOTNET_VERSION=10\.0$", dockerfile);
        Assert.Matches(@"(?m)^USER \$APP_UID$", dockerfile);
        Assert.Matches(@"(?m)^\s+CMD curl -fsS http://localhost:8080/healthz", dockerfile);
        Assert.DoesNotMatch(@"apt-get install[^\n]*librdkafka|ln -s[^\n]*librdkafka", dockerfile); // bundled in the app by librdkafka.redist
        // Every file the build stage copies exists in the context.
        foreach (Match copy in CopyFromContext().Matches(dockerfile))
        {
            foreach (var source in copy.Groups["sources"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                Assert.True(File.Exists(Repo.File(source)) || Directory.Exists(Repo.File(source)), $"COPY {source}: not in the repository");
            }
        }

        // The entry point runs <PROJECT>.dll: no project may rename its assembly.
        foreach (var project in Services.Values.Cast<Dictionary<object, object?>>().Select(s => s.MapOrNull("build")?.Map("args").Str("PROJECT")).OfType<string>())
        {
            Assert.DoesNotContain("<AssemblyName>", File.ReadAllText(Repo.File("src", project, project + ".csproj")), StringComparison.Ordinal);
        }
    }

    // COPY lines without --from: the last word is the destination.
    [GeneratedRegex(@"(?m)^COPY (?!--from)(?<sources>(\S+ )+)\S+$")]
    private static partial Regex CopyFromContext();
}
