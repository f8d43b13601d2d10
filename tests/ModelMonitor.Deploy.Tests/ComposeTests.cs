using System.Text.RegularExpressions;
using ModelMonitor.Security;
using ModelMonitor.Storage;

namespace ModelMonitor.Deploy.Tests;

/// <summary>docker-compose.yml cannot run here (no Docker engine): it is parsed, and everything it
/// refers to must exist: services, build contexts, Dockerfile, projects, mounted files, ports.</summary>
public sealed partial class ComposeTests
{
    private static readonly string[] ModelMonitorServices = ["ingestion", "aggregator", "exporter"];

    /// <summary>The services that run once and exit (their dependents wait for service_completed_successfully).</summary>
    private static readonly string[] OneShotServices = ["migrate", "demo-key"];

    /// <summary>Postgres:ApplyMigrations as an environment variable.</summary>
    private static readonly string ApplyMigrationsVariable = SchemaMigrator.ApplySetting.Replace(":", "__", StringComparison.Ordinal);

    private static Dictionary<object, object?> Services => Yaml.Load(Repo.File("docker-compose.yml")).Map("services");

    [Fact]
    public void Compose_file_has_every_service_of_the_deployment()
    {
        Assert.Equal(
            ["aggregator", "alertmanager", "demo-key", "demo-traffic", "exporter", "grafana", "ingestion", "kafka", "migrate", "postgres", "prometheus"],
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
                var target = services.Map(dependency);
                if (OneShotServices.Contains(dependency))
                {
                    // A one-shot has no health: its dependents wait for it to exit 0, and it must not be restarted.
                    Assert.Equal("service_completed_successfully", condition);
                    Assert.Equal("no", target.Str("restart"));
                    Assert.Equal("true", target.Map("healthcheck").Str("disable"));
                    continue;
                }

                Assert.Equal("service_healthy", condition);
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
        foreach (var name in ModelMonitorServices.Concat(OneShotServices).Append("demo-traffic"))
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

    [Fact]
    public void The_migrate_one_shot_applies_the_schema_as_the_owner_and_no_service_migrates()
    {
        var services = Services;
        var migrate = services.Map("migrate");
        Assert.Equal("ModelMonitor.Aggregator", migrate.Map("build").Map("args").Str("PROJECT"));
        Assert.Equal([MigrateCommand.Verb], migrate.List("command").Cast<string>());
        Assert.Equal("modelmonitor", ConnectionString(migrate)["Username"]);
        Assert.Equal(services.Map("postgres").Map("environment").Str("POSTGRES_USER"), ConnectionString(migrate)["Username"]);
        Assert.Equal(services.Map("postgres").Map("environment").Str("POSTGRES_PASSWORD"), ConnectionString(migrate)["Password"]);
        Assert.Equal("service_healthy", migrate.Map("depends_on").Map("postgres").Str("condition"));

        // Every other ModelMonitor container starts after the migration; those with Postgres do not migrate.
        var built = services.Where(s => ((Dictionary<object, object?>)s.Value!).MapOrNull("build") is not null).Select(s => (string)s.Key).ToList();
        Assert.Equal(["aggregator", "demo-key", "demo-traffic", "exporter", "ingestion", "migrate"], built.Order(StringComparer.Ordinal));
        foreach (var name in built.Where(n => n != "migrate"))
        {
            var service = services.Map(name);
            Assert.True(service.Map("depends_on").MapOrNull("migrate")?.Str("condition") == "service_completed_successfully", $"{name} does not wait for migrate to complete");
            if (service.MapOrNull("environment")?.Str("ConnectionStrings__Postgres") is not null)
            {
                Assert.True(service.Map("environment").Str(ApplyMigrationsVariable) == "false", $"{name}: {ApplyMigrationsVariable} is not false");
            }
        }
        foreach (var name in ModelMonitorServices.Append("demo-key"))
        {
            Assert.Equal("false", services.Map(name).Map("environment").Str(ApplyMigrationsVariable));
        }
    }

    [Fact]
    public void Services_connect_as_the_least_privilege_roles_with_the_passwords_Postgres_creates_them_with()
    {
        var services = Services;
        var postgres = services.Map("postgres").Map("environment");
        var expected = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["ingestion"] = "modelmonitor_writer",
            ["aggregator"] = "modelmonitor_writer",
            ["demo-key"] = "modelmonitor_writer",
            ["exporter"] = "modelmonitor_reader",
            ["migrate"] = "modelmonitor",
        };
        foreach (var (name, service) in services.Select(s => ((string)s.Key, (Dictionary<object, object?>)s.Value!)))
        {
            if (service.MapOrNull("environment")?.Str("ConnectionStrings__Postgres") is null)
            {
                Assert.False(expected.ContainsKey(name), $"{name} has no Postgres connection string");
                continue;
            }
            var connection = ConnectionString(service);
            if (!expected.TryGetValue(name, out var role))
            {
                Assert.Fail($"{name} connects to Postgres, as {connection["Username"]}: which role should it be?");
                continue;
            }
            Assert.Equal(role, connection["Username"]);
            Assert.Equal("postgres", connection["Host"]);
            Assert.Equal("modelmonitor", connection["Database"]);
            if (role != "modelmonitor")
            {
                // The same value (a compose variable with a demo default) for roles.sh and for the login.
                Assert.Equal(postgres.Str(PasswordVariable(role)), connection["Password"]);
            }
        }

        var grafana = services.Map("grafana").Map("environment");
        Assert.Equal("modelmonitor_grafana", grafana.Str("MODELMONITOR_PG_USER"));
        Assert.Equal(postgres.Str(PasswordVariable("modelmonitor_grafana")), grafana.Str("MODELMONITOR_PG_PASSWORD"));
        Assert.NotEqual(postgres.Str("POSTGRES_PASSWORD"), grafana.Str("MODELMONITOR_PG_PASSWORD"));
        var datasources = Yaml.Load(Repo.File("grafana-dashboards", "provisioning", "datasources", "modelmonitor.yml")).List("datasources").Maps();
        var pg = Assert.Single(datasources, d => d.Str("type") == "grafana-postgresql-datasource");
        Assert.Equal("${MODELMONITOR_PG_USER}", pg.Str("user"));
        Assert.Equal("${MODELMONITOR_PG_PASSWORD}", pg.Map("secureJsonData").Str("password"));
    }

    [Fact]
    public void Postgres_creates_the_login_roles_when_it_initialises_its_volume()
    {
        var postgres = Services.Map("postgres");
        Assert.Contains("./deploy/postgres/initdb:/docker-entrypoint-initdb.d:ro", postgres.List("volumes").Cast<string>());
        var path = Repo.File("deploy", "postgres", "initdb", "roles.sh");
        Assert.True(File.Exists(path), "deploy/postgres/initdb/roles.sh missing");
        if (!OperatingSystem.IsWindows())
        {
            Assert.True(File.GetUnixFileMode(path).HasFlag(UnixFileMode.OtherExecute), "roles.sh is not executable");
        }

        var script = File.ReadAllText(path);
        Assert.StartsWith("#!/usr/bin/env bash\n", script, StringComparison.Ordinal); // the postgres image has bash
        Assert.Contains("ON_ERROR_STOP=1", script, StringComparison.Ordinal);
        Assert.Contains("set -euo pipefail", script, StringComparison.Ordinal);
        // Idempotent: creates a missing role, lets a NOLOGIN one (made by the migration) log in, leaves the others alone.
        Assert.Contains("WHERE existing.oid IS NULL OR NOT existing.rolcanlogin", script, StringComparison.Ordinal);
        foreach (var role in new[] { "modelmonitor_writer", "modelmonitor_reader", "modelmonitor_grafana" })
        {
            Assert.Contains($"'{role}'", script, StringComparison.Ordinal);
            Assert.Contains($"${{{PasswordVariable(role)}:?", script, StringComparison.Ordinal);
            Assert.False(string.IsNullOrEmpty(postgres.Map("environment").Str(PasswordVariable(role))), $"postgres: {PasswordVariable(role)} not set");
        }
        Assert.Contains("'CREATE ROLE %I LOGIN PASSWORD %L'", script, StringComparison.Ordinal);
    }

    [Fact]
    public void Ingestion_requires_API_keys()
    {
        Assert.Equal(nameof(AuthMode.ApiKeys), Services.Map("ingestion").Map("environment").Str($"{AuthOptions.SectionName}__Mode"));
    }

    [Fact]
    public void Demo_traffic_sends_the_API_key_the_demo_key_one_shot_made()
    {
        var services = Services;
        var demoKey = services.Map("demo-key");
        Assert.Equal("ModelMonitor.Ingestion", demoKey.Map("build").Map("args").Str("PROJECT"));
        Assert.Equal(["/bin/sh", "-c"], demoKey.List("entrypoint").Cast<string>());
        // Root, to write into the root-owned named volume; the file then belongs to the image's user.
        Assert.Equal("root", demoKey.Str("user"));
        Assert.Equal(["demo-keys:/keys"], demoKey.List("volumes").Cast<string>());
        var script = Assert.Single(demoKey.List("command").Cast<string>());
        Assert.Contains($"dotnet /app/ModelMonitor.Ingestion.dll {KeysCommand.Verb} create --name demo-traffic --scopes write:predictions,write:outcomes,admin > \"$$key.tmp\"", script, StringComparison.Ordinal);
        Assert.Contains("key=/keys/demo-traffic.key", script, StringComparison.Ordinal);
        Assert.Contains("chown \"$${APP_UID:-1654}\" \"$$key.tmp\"", script, StringComparison.Ordinal);
        Assert.Contains("mv \"$$key.tmp\" \"$$key\"", script, StringComparison.Ordinal);

        var demoTraffic = services.Map("demo-traffic");
        Assert.Equal(["demo-keys:/keys:ro"], demoTraffic.List("volumes").Cast<string>());
        var entrypoint = demoTraffic.List("entrypoint").Cast<string>().ToList();
        Assert.Equal(["/bin/sh", "-c"], entrypoint.Take(2));
        Assert.Contains("MODELMONITOR_API_KEY=$$(cat /keys/demo-traffic.key) || exit 1; export MODELMONITOR_API_KEY;", entrypoint[2], StringComparison.Ordinal);
        Assert.EndsWith("exec dotnet /app/ModelMonitor.DemoTraffic.dll \"$$@\"", entrypoint[2], StringComparison.Ordinal);
        Assert.Equal("service_completed_successfully", demoTraffic.Map("depends_on").Map("demo-key").Str("condition"));
        Assert.Equal("service_healthy", demoTraffic.Map("depends_on").Map("ingestion").Str("condition"));
        Assert.Contains("demo-keys", Yaml.Load(Repo.File("docker-compose.yml")).Map("volumes").Keys.Cast<string>());
        // The /app/<Project>.dll paths above and in the compose file's comments (keys create for real clients).
        Assert.Matches(@"(?m)^RUN dotnet publish .* -o /app ", File.ReadAllText(Repo.File("deploy", "Dockerfile")));
        Assert.Contains("docker compose exec ingestion dotnet /app/ModelMonitor.Ingestion.dll keys create", File.ReadAllText(Repo.File("docker-compose.yml")), StringComparison.Ordinal);
    }

    [Fact]
    public void Every_dollar_compose_would_interpolate_is_a_password_variable()
    {
        // A lone $ in a command is expanded by compose, not by the container's shell: shell variables are written $$.
        var lines = File.ReadAllLines(Repo.File("docker-compose.yml")).Where(l => !l.TrimStart().StartsWith('#'));
        var interpolated = lines.SelectMany(l => Interpolation().Matches(l.Replace("$$", "", StringComparison.Ordinal))).Select(m => m.Value).ToHashSet(StringComparer.Ordinal);
        Assert.All(interpolated, v => Assert.Matches(@"^\$\{MODELMONITOR_(WRITER|READER|GRAFANA)_PASSWORD:-[a-z-]+\}$", v));
        Assert.Equal(3, interpolated.Count);
    }

    /// <summary>The postgres service's environment variable (read by roles.sh) with a role's password.</summary>
    private static string PasswordVariable(string role) => $"MODELMONITOR_{role["modelmonitor_".Length..].ToUpperInvariant()}_PASSWORD";

    private static Dictionary<string, string> ConnectionString(Dictionary<object, object?> service) =>
        service.Map("environment").Str("ConnectionStrings__Postgres")!.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(part => part.Split('=', 2))
            .ToDictionary(kv => kv[0], kv => kv[1], StringComparer.Ordinal);

    [GeneratedRegex(@"\$(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)?")]
    private static partial Regex Interpolation();

    // COPY lines without --from: the last word is the destination.
    [GeneratedRegex(@"(?m)^COPY (?!--from)(?<sources>(\S+ )+)\S+$")]
    private static partial Regex CopyFromContext();
}
