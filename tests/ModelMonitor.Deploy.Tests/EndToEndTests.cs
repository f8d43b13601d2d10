using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dapper;
using ModelMonitor.Core.Security;
using ModelMonitor.Testing.Kafka;
using ModelMonitor.Testing.Postgres;
using ModelMonitor.Testing.Processes;
using ModelMonitor.Testing.Security;
using ModelMonitor.Testing.Tools;
using ModelMonitor.Testing.Waiting;
using Npgsql;
using Xunit.Abstractions;

namespace ModelMonitor.Deploy.Tests;

/// <summary>
/// The whole product with real binaries: prediction logs POSTed to the all-in-one host (API, aggregator,
/// exporter) → Kafka → Postgres → /metrics → Prometheus with the repository's rule files → Alertmanager
/// with the repository's routing → a webhook receiver run by the test. The same run evaluates every
/// dashboard query against that Prometheus and every Postgres panel against that database.
/// </summary>
/// <remarks>
/// <para>The all-in-one host runs as a child process (the built ModelMonitor.AllInOne.dll next to this
/// assembly), not in-process: WebApplicationFactory serves from memory, and Prometheus needs a real port to
/// scrape. A child process is also exactly what ./run.sh starts, with the same settings mechanism
/// (environment variables).</para>
/// <para>Kafka is librdkafka's mock cluster, like the host's embedded one, but owned by this test
/// (<see cref="ControllableKafkaCluster"/>) so the test can make it fail produce requests for a moment: that is the only
/// way to give the delivery-error and 5xx-ratio panels data. The host then takes the
/// "Kafka:BootstrapServers is set" path.</para>
/// <para>Only timings and URLs of alertmanager.yml are changed for the test (group_wait, group_interval,
/// the webhook URLs); routes, matchers, receivers and inhibitions are the repository's. Rule files are used
/// as they are: ModelMonitorFeatureDefaultRatioHigh has `for: 1m`, so this test takes about two minutes.</para>
/// </remarks>
[Trait("Speed", "Slow")]
public sealed partial class EndToEndTests(ITestOutputHelper output)
{
    private const string Predictor = "e2e_eta";
    private const string Model = "e2e_eta_v1";
    private const string ShadowModel = "e2e_eta_shadow";
    // A binary predictor for the Evaluation dashboard's classification panels (the ETA predictor gives the regression ones).
    private const string FraudPredictor = "e2e_fraud";
    private const string FraudModel = "e2e_fraud_v1";
    // Its shadow: the Predictor dashboard's agreement panel (binary predictors).
    private const string FraudShadowModel = "e2e_fraud_shadow";
    private const string DefaultedFeature = "weather_index";
    private const string HostilePredictor = "e2e_hostile";
    private static readonly string[] Features = ["distance_km", "market", "courier_rating", DefaultedFeature];
    private static readonly string[] Markets = ["paris", "lyon", "berlin"];
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    [Fact]
    public async Task A_feature_always_defaulted_reaches_the_webhook_as_an_alert_and_every_dashboard_query_returns_data()
    {
        var clock = Stopwatch.StartNew();
        var prometheusBinary = ExternalTool.Require("prometheus", "prometheus");
        var alertmanagerBinary = ExternalTool.Require("prometheus-alertmanager", "prometheus-alertmanager");
        var promtool = ExternalTool.Require("promtool", "prometheus");
        var allInOne = Path.Combine(AppContext.BaseDirectory, "ModelMonitor.AllInOne.dll");
        Assert.True(File.Exists(allInOne), $"{allInOne} is missing: the test project references src/ModelMonitor.AllInOne, build it.");

        using var temp = new TempDir();
        // Authentication as ./run.sh has it (issue 18): writes with an API key (here from a keys file); /metrics open, as the
        // README's examples read it (Metrics:RequireToken is tested in ModelMonitor.Ingestion.Tests). The metrics token is
        // sent anyway (and ignored): it must not be logged either. The host's connection string carries a password (the
        // test cluster trusts local connections, so it is never checked, but it must never be logged).
        using var keys = new TestKeysFile();
        var apiKey = keys.Add("e2e", "write:predictions,write:outcomes,admin", rate: 100_000);
        var metricsToken = "e2e-metrics-token-" + Guid.NewGuid().ToString("N");
        File.WriteAllText(temp.File("metrics-token"), metricsToken);
        await using var database = await PostgresDatabaseFixture.CreateAsync("e2e");
        const string postgresPassword = "e2e-postgres-password-never-logged";
        var apiPort = ChildProcess.FreePort();
        var api = $"http://127.0.0.1:{apiPort}";
        using var http = new HttpClient(new Credentials(api, apiKey, metricsToken)) { Timeout = TimeSpan.FromSeconds(15) };
        using var kafka = new ControllableKafkaCluster();
        await using var webhook = await AlertWebhookReceiver.StartAsync();
        var children = new List<ChildProcess>();
        var alertmanagerPort = ChildProcess.FreePort(); // known to the pipeline's console before Alertmanager starts
        try
        {
            // --- The pipeline ---
            children.Add(ChildProcess.Start("ModelMonitor.AllInOne", "dotnet", [allInOne], new Dictionary<string, string?>
            {
                ["ASPNETCORE_URLS"] = api,
                ["ASPNETCORE_ENVIRONMENT"] = "Production",
                ["ConnectionStrings__Postgres"] = database.ConnectionString + $";Password={postgresPassword}",
                ["Kafka__BootstrapServers"] = kafka.BootstrapServers,
                ["Auth__Mode"] = "ApiKeys",
                ["Auth__KeysFile"] = keys.Path,
                // Every request's log line (successes are at Debug), so the secrets check below sees them all.
                ["Serilog__MinimumLevel__Override__Serilog.AspNetCore.RequestLoggingMiddleware"] = "Debug",
                ["Kafka__CreateTopic"] = "false", // the mock cannot create topics through the Admin API
                ["Kafka__Topic"] = "modelmonitor.e2e",
                ["Kafka__DeliveryTimeout"] = "00:00:03", // a failing Kafka answers 503 after 3 s
                ["Aggregator__Windows"] = "1m,5m,1h",
                ["Aggregator__FlushInterval"] = "00:00:00.500",
                ["Exporter__RefreshInterval"] = "00:00:01",
                ["Exporter__CompletionDelay"] = "00:00:02",
                [$"Evaluation__Predictors__{Predictor}__Task"] = "regression",
                [$"Evaluation__Predictors__{FraudPredictor}__Task"] = "binary",
                ["Evaluation__FlushInterval"] = "00:00:00.500",
                ["Evaluation__BaselineInterval"] = "00:00:01",
                ["Shadow__ReloadInterval"] = "00:00:01",
                ["Predictors__PrimaryCheckInterval"] = "00:00:01",
                ["Console__AlertmanagerUrl"] = $"http://127.0.0.1:{alertmanagerPort}/",
                ["Console__GrafanaUrl"] = "http://localhost:3000/",
            }, AppContext.BaseDirectory, keepAllOutput: true));
            await children[^1].WaitUntilReadyAsync(http, new Uri($"{api}/readyz"), TimeSpan.FromSeconds(90));

            // --- Prometheus: the repository's rule files, a week-old history for the `offset 1w` panels ---
            var prometheusPort = ChildProcess.FreePort();
            var prometheus = $"http://127.0.0.1:{prometheusPort}";
            var alertmanager = $"http://127.0.0.1:{alertmanagerPort}";
            var tsdb = temp.File("prometheus");
            await BackfillLastWeekAsync(promtool, temp.File("last-week.om"), tsdb);
            File.WriteAllText(temp.File("prometheus.yml"), $"""
                # Generated by EndToEndTests: one all-in-one target scraped every second, the repository's rules.
                global:
                  scrape_interval: 1s
                  scrape_timeout: 1s
                  evaluation_interval: 1s
                  external_labels:
                    grafana_url: http://localhost:3000
                rule_files:
                  - {Repo.File("deploy", "prometheus", "rules")}/*.yml
                alerting:
                  alertmanagers:
                    - static_configs:
                        - targets: ["127.0.0.1:{alertmanagerPort}"]
                scrape_configs:
                  - job_name: modelmonitor-e2e
                    static_configs:
                      - targets: ["127.0.0.1:{apiPort}"]
                  - job_name: modelmonitor-e2e-statistics
                    metrics_path: /metrics/statistics
                    static_configs:
                      - targets: ["127.0.0.1:{apiPort}"]
                """);
            children.Add(ChildProcess.Start("prometheus", prometheusBinary,
                [$"--config.file={temp.File("prometheus.yml")}", $"--storage.tsdb.path={tsdb}", $"--web.listen-address=127.0.0.1:{prometheusPort}"]));

            // --- Alertmanager: the repository's file with short timings and the test's webhook ---
            File.WriteAllText(temp.File("alertmanager.yml"), AlertmanagerConfigForTest(File.ReadAllText(Repo.File("deploy", "alertmanager", "alertmanager.yml")), webhook.BaseUrl));
            children.Add(ChildProcess.Start("alertmanager", alertmanagerBinary,
                [$"--config.file={temp.File("alertmanager.yml")}", $"--storage.path={temp.File("alertmanager")}",
                 $"--web.listen-address=127.0.0.1:{alertmanagerPort}", "--cluster.listen-address="]));
            await children[1].WaitUntilReadyAsync(http, new Uri($"{prometheus}/-/ready"), TimeSpan.FromSeconds(60));
            await children[2].WaitUntilReadyAsync(http, new Uri($"{alertmanager}/-/ready"), TimeSpan.FromSeconds(60));
            Log(clock, "pipeline, Prometheus and Alertmanager ready");

            // --- A Kafka outage of a few seconds: 503s and delivery errors, then the API recovers ---
            Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(http, api, Batch(DateTimeOffset.UtcNow, 5, 0))).StatusCode);
            kafka.FailProduceRequests(100_000);
            var duringOutage = await PostAsync(http, api, Batch(DateTimeOffset.UtcNow, 5, 1000));
            kafka.StopFailingProduceRequests();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, duringOutage.StatusCode);
            await RetryUntilAsync(async () => (await PostAsync(http, api, Batch(DateTimeOffset.UtcNow, 5, 2000))).StatusCode == HttpStatusCode.Accepted,
                TimeSpan.FromSeconds(30), "the API did not accept records again after the Kafka outage", children);
            // A request of the wrong media type, for the requests-rejected-by-reason panel.
            using (var wrongType = await http.PostAsync(new Uri($"{api}/v1/predictions"), new StringContent("x", Encoding.UTF8, "text/plain")))
            {
                Assert.Equal(HttpStatusCode.UnsupportedMediaType, wrongType.StatusCode);
            }

            Log(clock, "Kafka outage played");

            // --- The README's shell examples, in order, as a newcomer runs them; meanwhile, on the same pipeline ---
            var state = temp.File("state");
            Directory.CreateDirectory(Path.Combine(state, "logs"));
            File.WriteAllText(Path.Combine(state, "kafka-bootstrap-servers"), kafka.BootstrapServers + "\n");
            File.WriteAllText(Path.Combine(state, "api-key"), apiKey + "\n"); // where ./run.sh keeps its key
            var examples = ReadmeExamples.RunAllAsync(
                ReadmeExamples.Extract(File.ReadAllText(Repo.File("README.md"))),
                new ExampleTargets(api, prometheus, alertmanager, database.ConnectionString, state, "modelmonitor.e2e"),
                () => File.WriteAllText(Path.Combine(state, "logs", "modelmonitor.log"), children[0].Output()),
                line => Log(clock, line));

            // --- A training reference for the primary model (the Drift dashboard's data): its features but weather_index ---
            using (var reference = await http.PostAsync(new Uri($"{api}/v1/references/{Predictor}/{Model}?name=training"),
                       new StringContent(TrainingCsv(), Encoding.UTF8, "text/csv")))
            {
                Assert.Equal(HttpStatusCode.Created, reference.StatusCode);
            }

            // --- The registry (the Predictor dashboard's data): primaries, shadows, a model's age and its limit ---
            foreach (var (path, body) in new[]
            {
                ($"/v1/predictors/{Predictor}", $$"""{"primary_model_id":"{{Model}}","shadow_model_ids":["{{ShadowModel}}"],"max_model_age":"30d"}"""),
                ($"/v1/predictors/{Predictor}/models/{Model}", $$"""{"trained_at":"{{DateTimeOffset.UtcNow.AddDays(-10):yyyy-MM-ddTHH:mm:ssZ}}"}"""),
                ($"/v1/predictors/{FraudPredictor}", $$"""{"primary_model_id":"{{FraudModel}}","shadow_model_ids":["{{FraudShadowModel}}"]}"""),
            })
            {
                using var registered = await http.PutAsync(new Uri($"{api}{path}"), new StringContent(body, Encoding.UTF8, "application/json"));
                Assert.True(registered.StatusCode == HttpStatusCode.Created, $"PUT {path}: {(int)registered.StatusCode} {await registered.Content.ReadAsStringAsync()}");
            }
            await RetryUntilAsync(async () => (await http.GetStringAsync(new Uri($"{api}/metrics"))).Contains("modelmonitor_shadow_join_predictors 2", StringComparison.Ordinal),
                TimeSpan.FromSeconds(30), "the shadow join did not compare the two registered predictors", children);

            // --- Names a browser must show as text: a model and a feature named as markup (a predictor of their own) ---
            var hostile = $$"""[{"sent_at":"{{DateTimeOffset.UtcNow.AddMinutes(-2):yyyy-MM-ddTHH:mm:ssZ}}","prediction_id":"h-1","predictor_name":"{{HostilePredictor}}","model_id":"<b>bold</b>","features":{"<script>alert('mm')</script>":1},"prediction_result":1}]""";
            Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(http, api, hostile)).StatusCode);

            // --- Traffic: the last completed minute at once (published at once), then live records ---
            var now = DateTimeOffset.UtcNow;
            var currentWindow = new DateTimeOffset(now.Ticks - (now.Ticks % Window.Ticks), TimeSpan.Zero);
            Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(http, api, Batch(currentWindow - TimeSpan.FromSeconds(30), 60, 10_000))).StatusCode);
            // The middle of the last completed 5-minute window (the shadow divergence the alert reads), within the join window.
            var current5m = new DateTimeOffset(now.Ticks - (now.Ticks % TimeSpan.FromMinutes(5).Ticks), TimeSpan.Zero);
            Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(http, api, Batch(current5m - TimeSpan.FromSeconds(150), 60, 30_000))).StatusCode);
            // Their outcomes, and a binary predictor's predictions and outcomes (the Evaluation dashboard's data); the same two
            // hours earlier, the models' 7-day baselines (the windows before the current hour).
            Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(http, api, FraudBatch(currentWindow - TimeSpan.FromSeconds(30), 60, 0))).StatusCode);
            Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(http, api, Outcomes(currentWindow, 60, 10_000, 0), "/v1/outcomes")).StatusCode);
            Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(http, api, Batch(currentWindow - TimeSpan.FromHours(2), 60, 20_000))).StatusCode);
            Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(http, api, FraudBatch(currentWindow - TimeSpan.FromHours(2), 60, 1_000))).StatusCode);
            Assert.Equal(HttpStatusCode.Accepted,
                (await PostAsync(http, api, Outcomes(currentWindow - TimeSpan.FromHours(2) + TimeSpan.FromMinutes(5), 60, 20_000, 1_000), "/v1/outcomes")).StatusCode);
            using var stopTraffic = new CancellationTokenSource();
            var traffic = SendLiveTrafficAsync(http, api, stopTraffic.Token);
            try
            {
                // --- The alert reaches on-call ---
                var alert = await WaitForAlertAsync(webhook, "ModelMonitorFeatureDefaultRatioHigh", Model, TimeSpan.FromSeconds(150), children);
                Log(clock, "alert received by the webhook");
                var (receiver, firing) = alert;
                Assert.Equal("warning", receiver); // routed by severity to the modelmonitor-warning webhook
                Assert.Equal("firing", firing.GetProperty("status").GetString());
                var labels = firing.GetProperty("labels");
                Assert.Equal("ModelMonitorFeatureDefaultRatioHigh", labels.GetProperty("alertname").GetString());
                Assert.Equal("warning", labels.GetProperty("severity").GetString());
                Assert.Equal(Predictor, labels.GetProperty("predictor_name").GetString());
                Assert.Equal(Model, labels.GetProperty("model_id").GetString());
                Assert.Equal(DefaultedFeature, labels.GetProperty("feature").GetString());
                var annotations = firing.GetProperty("annotations");
                Assert.Equal($"Feature {DefaultedFeature} of {Predictor}/{Model} falls back to its default value", annotations.GetProperty("summary").GetString());
                Assert.StartsWith("100% of the predictions of model e2e_eta_v1", annotations.GetProperty("description").GetString(), StringComparison.Ordinal);
                Assert.Equal($"http://localhost:3000/d/modelmonitor-features/modelmonitor-features?var-predictor={Predictor}&var-model={Model}&var-feature={DefaultedFeature}",
                    annotations.GetProperty("dashboard").GetString());
                // Only the always-defaulted feature crossed the threshold.
                Assert.DoesNotContain(webhook.Alerts(), a => a.Alert.GetProperty("labels").GetProperty("alertname").GetString() == "ModelMonitorFeatureDefaultRatioHigh"
                    && a.Alert.GetProperty("labels").GetProperty("feature").GetString() != DefaultedFeature);

                // --- Every dashboard query, against this Prometheus and this database ---
                await AssertEveryPrometheusQueryReturnsDataAsync(http, prometheus, children);
                Log(clock, "every dashboard PromQL expression returned data");
                await AssertEveryPostgresPanelRunsAsync(database.DataSource);
                Log(clock, "every Postgres panel returned rows");

                var failures = await examples;
                Assert.True(failures.Count == 0, $"{failures.Count} README examples failed:\n{string.Join("\n\n", failures)}");
                Log(clock, "every README example ran and printed what it promises");

                // --- The console in a real browser (headless Chromium), each page as a person sees it; screenshots kept with the
                // test's output ---
                var chromium = ExternalTool.Require("chromium", "chromium");
                var artifacts = Path.Combine(AppContext.BaseDirectory, "artifacts");
                Directory.CreateDirectory(artifacts);
                async Task<string> DomAsync(string path)
                {
                    var (exit, dom) = await ExternalTool.RunAsync(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", "--dump-dom", $"{api}{path}"]);
                    Assert.True(exit == 0, dom);
                    return dom;
                }
                async Task ScreenshotAsync(string name, string path, int height)
                {
                    var file = Path.Combine(artifacts, $"console-{name}.png");
                    File.Delete(file);
                    var (exit, output) = await ExternalTool.RunAsync(chromium,
                        ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", $"--window-size=1280,{height}", $"--screenshot={file}", $"{api}{path}"]);
                    Assert.True(exit == 0 && new FileInfo(file).Length > 10_000, output);
                }

                // The overview: the models with their roles and a 48-point sparkline, the defaulted feature flagged, the alert
                // firing in Alertmanager named on its model's row, a Grafana link, the hostile names as text.
                var overview = "";
                await RetryUntilAsync(async () => (overview = await DomAsync("/")).Contains("ModelMonitorFeatureDefaultRatioHigh", StringComparison.Ordinal),
                    TimeSpan.FromSeconds(30), "the console's overview did not show the alert firing in Alertmanager", children);
                Assert.Contains($"data-model=\"{Predictor}/{Model}\"><td>{Predictor}</td><td><a href=\"/model?predictor={Predictor}&amp;model={Model}\">{Model}</a></td><td>primary</td>", overview, StringComparison.Ordinal);
                Assert.Contains($"data-model=\"{Predictor}/{ShadowModel}\"><td>{Predictor}</td><td><a href=\"/model?predictor={Predictor}&amp;model={ShadowModel}\">{ShadowModel}</a></td><td>shadow</td>", overview, StringComparison.Ordinal);
                Assert.Matches($"data-model=\"{Predictor}/{Model}\">.*?<polyline[^>]* points=\"(\\S+ ){{47}}\\S+\"", overview);
                Assert.Matches($"data-model=\"{Predictor}/{Model}\">.*?<span class=\"problem\" title=\"[^\"]*{DefaultedFeature}", overview);
                Assert.Matches($"data-model=\"{Predictor}/{Model}\">.*?⚠ \\d+: [^<]*ModelMonitorFeatureDefaultRatioHigh", overview);
                Assert.Contains($"href=\"http://localhost:3000/d/modelmonitor-overview?var-predictor={Predictor}&amp;var-model={Model}\"", overview, StringComparison.Ordinal);
                Assert.Contains("&lt;b&gt;bold&lt;/b&gt;", overview, StringComparison.Ordinal);
                Assert.DoesNotContain("<b>bold</b>", WithoutAttributes(overview), StringComparison.Ordinal); // no element: text and attribute values only
                await ScreenshotAsync("overview", "/", 800);

                // The model page: the result's quantile chart with a point per 1-minute window that has predictions, the
                // defaulted feature flagged in the feature table, the evaluation and the shadow comparison, the alert.
                var modelPath = $"/model?predictor={Predictor}&model={Model}&range=6h&window=60";
                var modelDom = await DomAsync(modelPath);
                await using (var connection = await database.DataSource.OpenConnectionAsync())
                {
                    var windows = await connection.ExecuteScalarAsync<int>(
                        "SELECT count(*) FROM model_window_stats WHERE window_seconds = 60 AND predictor_name = @p AND model_id = @m AND window_start >= now() - interval '6 hours'",
                        new { p = Predictor, m = Model });
                    var charted = int.Parse(Regex.Match(modelDom, "<figure class=\"chart\" id=\"result\"><svg [^>]*data-points=\"(\\d+)\"").Groups[1].Value, CultureInfo.InvariantCulture);
                    Assert.True(windows >= 2 && Math.Abs(charted - windows) <= 1, $"the result chart has {charted} points, Postgres {windows} windows");
                }
                Assert.Matches($"<tr data-feature=\"{DefaultedFeature}\"><th scope=\"row\"><a [^>]*>{DefaultedFeature}</a> <span class=\"problem\">⚠ problem</span>", modelDom);
                Assert.Contains("id=\"evaluation\"", modelDom, StringComparison.Ordinal);
                Assert.Contains($"{Model} − {ShadowModel}", modelDom, StringComparison.Ordinal);
                Assert.Contains("data-alert=\"ModelMonitorFeatureDefaultRatioHigh\"", modelDom, StringComparison.Ordinal);
                await ScreenshotAsync("model", modelPath, 1500);

                // The feature page: the always-defaulted feature's ratio chart; a feature of the training reference against it.
                var featurePath = $"/feature?predictor={Predictor}&model={Model}&feature=distance_km&range=6h&window=60";
                var featureDom = await DomAsync(featurePath);
                Assert.Matches("id=\"quantiles\"><svg [^>]*data-points=\"[1-9]", featureDom);
                Assert.Contains("<th scope=\"row\">training (uploaded)</th>", featureDom, StringComparison.Ordinal);
                var defaultedDom = await DomAsync($"/feature?predictor={Predictor}&model={Model}&feature={DefaultedFeature}&range=1h&window=60");
                Assert.Contains("<span class=\"problem\">⚠ 100%</span>", defaultedDom, StringComparison.Ordinal);
                await ScreenshotAsync("feature", featurePath, 1300);

                // Hostile names, in the browser's own DOM: text, never markup.
                var hostileDom = await DomAsync($"/model?predictor={HostilePredictor}&model={Uri.EscapeDataString("<b>bold</b>")}");
                Assert.Contains("&lt;script&gt;alert('mm')&lt;/script&gt;", hostileDom, StringComparison.Ordinal);
                Assert.DoesNotContain("<script>", WithoutAttributes(hostileDom), StringComparison.Ordinal);
                Log(clock, $"the console's pages rendered in Chromium ({artifacts})");

                // --- No secret in the whole run's log: not the key (used by every write, and refused once with a wrong
                // secret), not the metrics token (every scrape), not the database password ---
                Assert.True(ApiKeyToken.TryParse(apiKey, out var token));
                using (var wrong = new HttpRequestMessage(HttpMethod.Post, $"{api}/v1/predictions") { Content = new StringContent("{}", Encoding.UTF8, "application/json") })
                {
                    wrong.Headers.TryAddWithoutValidation(Credentials.AsIs, "1");
                    wrong.Headers.TryAddWithoutValidation("Authorization", $"Bearer {apiKey[..^6]}AAAAAA");
                    Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrong)).StatusCode);
                }
                // The refused request's line reaches the host's output a moment after its answer.
                await RetryUntilAsync(() => Task.FromResult(string.Join('\n', children[0].AllOutput()).Contains("HTTP POST /v1/predictions responded 401", StringComparison.Ordinal)),
                    TimeSpan.FromSeconds(10), "the refused request's line never reached the host's log", children);
                var log = string.Join('\n', children[0].AllOutput());
                Assert.Contains("HTTP POST /v1/predictions responded 202", log, StringComparison.Ordinal); // every request line was in it
                foreach (var (what, secret) in new[] { ("the API key's secret", token.Secret), ("the metrics token", metricsToken), ("the Postgres password", postgresPassword) })
                {
                    Assert.False(log.Contains(secret, StringComparison.Ordinal), $"{what} is in the host's log");
                }
                Log(clock, $"no secret in the host's {children[0].AllOutput().Count} log lines");
            }
            finally
            {
                await stopTraffic.CancelAsync();
                await traffic;
            }
        }
        finally
        {
            foreach (var child in children.AsEnumerable().Reverse())
            {
                child.Dispose();
            }
        }
    }

    /// <summary>
    /// Evaluates every PromQL target of every dashboard and the selector of every label_values variable
    /// (with the variables set to this test's predictor, model, window 1m) as an instant query. Each must
    /// succeed and return at least one series. A target of a panel repeated per feature must return data
    /// for at least one of the test's features (a quantile needs a numeric feature, a category mix a
    /// categorical one, as in Grafana where each repeated row shows one feature).
    /// </summary>
    private static async Task AssertEveryPrometheusQueryReturnsDataAsync(HttpClient http, string prometheus, List<ChildProcess> children)
    {
        var queries = new List<(string Where, List<string> Variants)>();
        foreach (var dashboard in DashboardTests.LoadDashboards())
        {
            foreach (var target in dashboard.Targets.Where(t => t.Expr is not null))
            {
                queries.Add(($"{dashboard.File} '{target.PanelTitle}': {target.Expr}", Variants(target.Expr!, dashboard.File)));
            }

            foreach (var (name, _, query) in dashboard.VariableQueries)
            {
                var selector = LabelValues().Match(query);
                Assert.True(selector.Success, $"{dashboard.File}: variable {name} is not label_values(selector, label)");
                queries.Add(($"{dashboard.File} variable {name}: {query}", Variants(selector.Groups["selector"].Value, dashboard.File)));
            }
        }

        Assert.True(queries.Count > 50, $"only {queries.Count} queries found");
        // The shadow model's records make "primary vs other models" panels show both models.
        var byModel = await QueryAsync(http, prometheus, $"max by (model_id) (modelmonitor_prediction_count{{predictor_name=\"{Predictor}\", window=\"1m\"}})");
        Assert.Equal([ShadowModel, Model], byModel.Select(s => s.GetProperty("metric").GetProperty("model_id").GetString()).Order(StringComparer.Ordinal));

        // Rates need two scrapes of a series: retry for a while before calling a query empty.
        List<string> empty = [];
        var deadline = Stopwatch.StartNew();
        do
        {
            empty = [];
            foreach (var (where, variants) in queries)
            {
                var any = false;
                foreach (var variant in variants)
                {
                    if ((await QueryAsync(http, prometheus, variant)).Count > 0)
                    {
                        any = true;
                        break;
                    }
                }

                if (!any)
                {
                    empty.Add(where);
                }
            }

            if (empty.Count > 0)
            {
                await Task.Delay(2000);
            }
        }
        while (empty.Count > 0 && deadline.Elapsed < TimeSpan.FromSeconds(30));

        Assert.True(empty.Count == 0, $"{empty.Count} of {queries.Count} dashboard queries returned no data:\n{string.Join('\n', empty)}\n{string.Join('\n', children.Select(c => c.Output()))}");
    }

    /// <summary>Runs the SQL of every Postgres panel (Grafana macros replaced by plain SQL) and expects rows:
    /// the aggregator writes the open hourly window too.</summary>
    private static async Task AssertEveryPostgresPanelRunsAsync(NpgsqlDataSource dataSource)
    {
        var panels = DashboardTests.LoadDashboards().SelectMany(d => d.Targets.Where(t => t.RawSql is not null).Select(t => (d.File, t.PanelTitle, Sql: t.RawSql!))).ToList();
        Assert.NotEmpty(panels);
        foreach (var (file, title, sql) in panels)
        {
            var text = TimeFilter().Replace(sql, m => $"{m.Groups["column"].Value} > now() - interval '6 hours'");
            text = Substitute(text, Features);
            await using var command = dataSource.CreateCommand(text);
            var rows = 0;
            await using (var reader = await command.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    rows++;
                }
            }

            Assert.True(rows > 0, $"{file} '{title}' returned no rows:\n{text}");
        }
    }

    /// <summary>The expression with Grafana's variables replaced, once per feature if it uses $feature; on the Evaluation
    /// dashboard once for the regression predictor and once for the binary one (a panel of one task has data for its own).</summary>
    private static List<string> Variants(string expression, string dashboard)
    {
        (string Predictor, string Model)[] models = Path.GetFileName(dashboard) is "evaluation.json" or "predictor.json"
            ? [(Predictor, Model), (FraudPredictor, FraudModel)]
            : [(Predictor, Model)];
        return VariableUse().Matches(expression).Any(m => m.Groups["name"].Value == "feature")
            ? [.. models.SelectMany(m => Features.Select(f => Substitute(expression, [f], m.Predictor, m.Model)))]
            : [.. models.Select(m => Substitute(expression, Features, m.Predictor, m.Model))];
    }

    /// <summary>Grafana's variables as this test's values; ${x:sqlstring} as a quoted SQL list. Built-in
    /// intervals as DashboardTests substitutes them for promtool ($__rate_interval 1m, $__range 1h).</summary>
    private static string Substitute(string text, string[] features, string predictor = Predictor, string model = Model) => VariableUse().Replace(text, m =>
    {
        string[] values = m.Groups["name"].Value switch
        {
            "predictor" => [predictor],
            "model" => [model],
            "window" => ["1m"],
            "feature" => features,
            "reference" => ["training"],
            "method" => ["jensen_shannon"],
            "__rate_interval" or "__interval" => ["1m"],
            "__range" => ["1h"],
            var other => throw new InvalidOperationException($"Grafana variable ${other} has no value in {nameof(EndToEndTests)}"),
        };
        return m.Groups["format"].Value == "sqlstring"
            ? string.Join(',', values.Select(v => "'" + v.Replace("'", "''", StringComparison.Ordinal) + "'"))
            : string.Join('|', values);
    });

    private static async Task<List<JsonElement>> QueryAsync(HttpClient http, string prometheus, string query)
    {
        using var response = await http.GetAsync(new Uri($"{prometheus}/api/v1/query?query={Uri.EscapeDataString(query)}"));
        var body = await response.Content.ReadAsStringAsync();
        using var json = JsonDocument.Parse(body);
        Assert.True(json.RootElement.GetProperty("status").GetString() == "success", $"{query}\n{body}");
        var data = json.RootElement.GetProperty("data");
        var result = data.GetProperty("result");
        return data.GetProperty("resultType").GetString() is "scalar" or "string"
            ? [result.Clone()]
            : [.. result.EnumerateArray().Select(e => e.Clone())];
    }

    private static async Task<(string Receiver, JsonElement Alert)> WaitForAlertAsync(AlertWebhookReceiver webhook, string alertName, string model,
        TimeSpan timeout, List<ChildProcess> children)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            foreach (var (receiver, alert) in webhook.Alerts())
            {
                var labels = alert.GetProperty("labels");
                if (labels.GetProperty("alertname").GetString() == alertName && labels.TryGetProperty("model_id", out var m) && m.GetString() == model)
                {
                    return (receiver, alert);
                }
            }

            Assert.DoesNotContain(children, c => c.HasExited);
            await Task.Delay(500);
        }

        var received = string.Join('\n', webhook.Notifications.Select(n => n.Body.ToString()));
        throw new TimeoutException($"{alertName} for {model} did not reach the webhook within {timeout}. Received:\n{received}\n{string.Join('\n', children.Select(c => c.Output()))}");
    }

    /// <summary>Live records every second (sent_at = now) so every completed 1m window of the run shows the
    /// defaulted feature, for the primary and the shadow model.</summary>
    private static async Task SendLiveTrafficAsync(HttpClient http, string api, CancellationToken stop)
    {
        var sequence = 100_000;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                using var response = await PostAsync(http, api, Batch(DateTimeOffset.UtcNow, 20, sequence), stop);
                using var fraud = await PostAsync(http, api, FraudBatch(DateTimeOffset.UtcNow, 10, sequence), stop);
                sequence += 20;
                await Task.Delay(1000, stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>A serialized DOM with every attribute value emptied: what is left of a name written as markup can only be an
    /// element (a DOM serializer writes '&lt;' as is inside an attribute value, and as &amp;lt; in text).</summary>
    private static string WithoutAttributes(string dom) => Regex.Replace(dom, "=\"[^\"]*\"", "=\"\"");

    private static Task<HttpResponseMessage> PostAsync(HttpClient http, string api, string json, CancellationToken cancellationToken = default) =>
        PostAsync(http, api, json, "/v1/predictions", cancellationToken);

    private static Task<HttpResponseMessage> PostAsync(HttpClient http, string api, string json, string path, CancellationToken cancellationToken = default) =>
        http.PostAsync(new Uri($"{api}{path}"), new StringContent(json, Encoding.UTF8, "application/json"), cancellationToken);

    /// <summary>Predictions of the binary predictor: scores in [0, 1], prediction ids fraud-{first} … fraud-(first + count − 1).</summary>
    private static string FraudBatch(DateTimeOffset sentAt, int count, int first)
    {
        var random = new Random(7);
        return "[" + string.Join(',', Enumerable.Range(0, count).SelectMany(i =>
        {
            var score = random.NextDouble();
            // The shadow scores a little higher: on the other side of the 0.5 threshold for a few.
            return new[] { (FraudModel, score), (FraudShadowModel, Math.Min(1, score + 0.05)) }.Select(m => string.Create(CultureInfo.InvariantCulture,
                $"{{\"sent_at\":\"{sentAt.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ}\",\"prediction_id\":\"fraud-{first + i}\",\"predictor_name\":\"{FraudPredictor}\",\"model_id\":\"{m.Item1}\",\"features\":{{\"amount\":{i}}},\"prediction_result\":{m.Item2:R}}}"));
        })) + "]";
    }

    /// <summary>Outcomes of the ETA predictions e2e-{firstSequence} … (numbers) and of the binary predictor's fraud-{fraudFirst} …
    /// (true for one in three).</summary>
    private static string Outcomes(DateTimeOffset observedAt, int count, int firstSequence, int fraudFirst) =>
        "[" + string.Join(',', Enumerable.Range(0, count).SelectMany(i => new[]
        {
            string.Create(CultureInfo.InvariantCulture,
                $"{{\"prediction_id\":\"e2e-{firstSequence + i}\",\"predictor_name\":\"{Predictor}\",\"actual\":{10 + (i % 7)},\"observed_at\":\"{observedAt.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}\"}}"),
            string.Create(CultureInfo.InvariantCulture,
                $"{{\"prediction_id\":\"fraud-{fraudFirst + i}\",\"predictor_name\":\"{FraudPredictor}\",\"actual\":{(i % 3 == 0 ? "true" : "false")},\"observed_at\":\"{observedAt.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}\"}}"),
        })) + "]";

    /// <summary>
    /// <paramref name="count"/> predictions of the primary model and as many of its shadow (same
    /// prediction_id). weather_index is always listed in default_values_used; courier_rating is NaN in
    /// one record of ten (a bare NaN token, as the API accepts); market is categorical.
    /// </summary>
    private static string Batch(DateTimeOffset sentAt, int count, int firstSequence)
    {
        var json = new StringBuilder("[");
        var random = new Random(firstSequence);
        for (var i = 0; i < count; i++)
        {
            var sequence = firstSequence + i;
            var distance = 1 + (random.NextDouble() * 9);
            var rating = sequence % 10 == 0 ? "NaN" : (3 + (random.NextDouble() * 2)).ToString("R", CultureInfo.InvariantCulture);
            foreach (var (model, shift) in new[] { (Model, 0.0), (ShadowModel, 1.5) })
            {
                var result = (8 + (distance * 2) + shift).ToString("R", CultureInfo.InvariantCulture);
                json.Append(json.Length > 1 ? "," : "").Append(CultureInfo.InvariantCulture,
                    $"{{\"sent_at\":\"{sentAt.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ}\",\"prediction_id\":\"e2e-{sequence}\",")
                    .Append(CultureInfo.InvariantCulture, $"\"predictor_name\":\"{Predictor}\",\"model_id\":\"{model}\",")
                    .Append(CultureInfo.InvariantCulture, $"\"features\":{{\"distance_km\":{distance.ToString("R", CultureInfo.InvariantCulture)},")
                    .Append(CultureInfo.InvariantCulture, $"\"market\":\"{Markets[sequence % Markets.Length]}\",\"courier_rating\":{rating},\"{DefaultedFeature}\":0}},")
                    .Append(CultureInfo.InvariantCulture, $"\"prediction_result\":{result},\"default_values_used\":[\"{DefaultedFeature}\"]}}");
            }
        }

        return json.Append(']').ToString();
    }

    /// <summary>A training set drawn like <see cref="Batch"/>'s records (so no drift alert fires during the test), without the
    /// always-defaulted feature (a new_feature schema anomaly for the dashboard).</summary>
    private static string TrainingCsv()
    {
        var csv = new StringBuilder("distance_km,market,courier_rating,prediction_result\n");
        var random = new Random(7);
        for (var i = 0; i < 2_000; i++)
        {
            var distance = 1 + (random.NextDouble() * 9);
            csv.Append(CultureInfo.InvariantCulture, $"{distance:R},{Markets[i % Markets.Length]},{3 + (random.NextDouble() * 2):R},{8 + (distance * 2):R}\n");
        }

        return csv.ToString();
    }

    /// <summary>
    /// A block of last week's history for the panels comparing with `offset 1w` (Prometheus cannot have it
    /// from a fresh start): the primary model's prediction mean and stddev, and the predictor's hourly traffic, around
    /// now − 1 week, written
    /// with `promtool tsdb create-blocks-from openmetrics` into the TSDB directory before Prometheus starts.
    /// </summary>
    private static async Task BackfillLastWeekAsync(string promtool, string input, string tsdb)
    {
        var weekAgo = DateTimeOffset.UtcNow.AddDays(-7).ToUnixTimeSeconds();
        var text = new StringBuilder();
        foreach (var (metric, value) in new[] { ("modelmonitor_prediction_mean", 18.0), ("modelmonitor_prediction_stddev", 4.0) })
        {
            text.Append(CultureInfo.InvariantCulture, $"# TYPE {metric} gauge\n");
            for (var t = weekAgo - 900; t <= weekAgo + 900; t += 15)
            {
                text.Append(CultureInfo.InvariantCulture, $"{metric}{{predictor_name=\"{Predictor}\",model_id=\"{Model}\",window=\"1m\"}} {value} {t}\n");
            }
        }
        // The predictor's hourly traffic a week ago (the recording rule's own series): the Predictor dashboard's seasonal band.
        const string traffic = "modelmonitor:predictor_predictions:1h";
        text.Append(CultureInfo.InvariantCulture, $"# TYPE {traffic} gauge\n");
        for (var t = weekAgo - 900; t <= weekAgo + 900; t += 15)
        {
            text.Append(CultureInfo.InvariantCulture, $"{traffic}{{predictor_name=\"{Predictor}\"}} 1200 {t}\n");
        }

        File.WriteAllText(input, text.Append("# EOF\n").ToString());
        Directory.CreateDirectory(tsdb);
        var (exitCode, toolOutput) = await ExternalTool.RunAsync(promtool, ["tsdb", "create-blocks-from", "openmetrics", input, tsdb]);
        Assert.True(exitCode == 0, $"promtool tsdb create-blocks-from openmetrics failed:\n{toolOutput}");
    }

    /// <summary>alertmanager.yml with only timings and URLs changed: every group_wait 1s and group_interval
    /// 5s (so a notification leaves at once), the webhook URLs pointing at the test's receiver.</summary>
    internal static string AlertmanagerConfigForTest(string config, string webhookBaseUrl)
    {
        var changed = GroupWait().Replace(config, "${indent}group_wait: 1s");
        changed = GroupInterval().Replace(changed, "${indent}group_interval: 5s");
        changed = changed.Replace("http://127.0.0.1:5001/alerts/", webhookBaseUrl + "/alerts/", StringComparison.Ordinal);
        Assert.Contains(webhookBaseUrl + "/alerts/warning", changed, StringComparison.Ordinal);
        Assert.Contains(webhookBaseUrl + "/alerts/critical", changed, StringComparison.Ordinal);
        return changed;
    }

    private static Task RetryUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string failure, List<ChildProcess> children) =>
        Eventually.UntilAsync(condition, timeout, () => $"{failure}\n{string.Join('\n', children.Select(c => c.Output()))}", TimeSpan.FromMilliseconds(500));

    private void Log(Stopwatch clock, string message) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{clock.Elapsed.TotalSeconds,6:F1} s  {message}"));

    [GeneratedRegex(@"\$\{(?<name>\w+)(:(?<format>\w+))?\}|\$(?<name>\w+)")]
    private static partial Regex VariableUse();

    [GeneratedRegex(@"\$__timeFilter\((?<column>\w+)\)")]
    private static partial Regex TimeFilter();

    [GeneratedRegex(@"^label_values\((?<selector>.+),\s*(?<label>\w+)\)$")]
    private static partial Regex LabelValues();

    [GeneratedRegex(@"(?m)^(?<indent>\s*)group_wait:.*$")]
    private static partial Regex GroupWait();

    [GeneratedRegex(@"(?m)^(?<indent>\s*)group_interval:.*$")]
    private static partial Regex GroupInterval();

    /// <summary>What a deployed client sends: the API key on the API's /v1 endpoints, the metrics token on its /metrics and
    /// /readyz; nothing to Prometheus and Alertmanager. A request with the <see cref="AsIs"/> header is sent with its own credentials.</summary>
    private sealed class Credentials(string api, string apiKey, string metricsToken) : DelegatingHandler(new HttpClientHandler())
    {
        public const string AsIs = "X-Test-Credentials-As-Is";

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var url = request.RequestUri!.ToString();
            if (request.Headers.Remove(AsIs))
            {
                return base.SendAsync(request, cancellationToken);
            }
            if (url.StartsWith($"{api}/v1/", StringComparison.Ordinal))
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
            }
            else if (url.StartsWith($"{api}/metrics", StringComparison.Ordinal) || url.StartsWith($"{api}/readyz", StringComparison.Ordinal))
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", metricsToken);
            }
            return base.SendAsync(request, cancellationToken);
        }
    }
}
