using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using ModelMonitor.Core.Evaluation;
using ModelMonitor.Core.Shadows;
using ModelMonitor.Core.Statistics;
using ModelMonitor.Storage;
using ModelMonitor.Testing.Metrics;
using ModelMonitor.Testing.Postgres;
using Npgsql;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// Issue 19's speed goal: the web console's pages (served by the exporter from Postgres) in ≤ 300 ms of server time for
/// 500 models × 300 features, with no query per model or feature. A private Postgres (shared_buffers 128MB, Postgres's
/// default; pg_stat_statements and auto_explain preloaded) is seeded in SQL (INSERT … SELECT FROM generate_series) with a
/// fleet as the aggregator writes it: 100 predictors × 5 models × 300 features, windows of 1m (the last hour), 5m (the last
/// 6 h) and 1h (the last 24 h) in model_window_stats and feature_window_stats, every numeric row with a real DDSketch; drift rows
/// for the latest completed windows of each size; one reference per model; evaluation and shadow windows; the predictor
/// registry. Then the real exporter (child process, default settings: refresh every 15 s, caps 500 × 300) serves it, and
/// each page gets 5 warm-up requests and up to 50 timed sequential ones (at least 10, then until 150 s), each for another
/// model (and feature), side by side with /metrics/statistics. Server time: the exporter's own request log line (Serilog's
/// request logging, switched on for that logger alone); beside it the client's time to the full response over a
/// kept-alive connection on 127.0.0.1. SQL per page: pg_stat_statements, the exporter's own statements (learnt over two
/// refreshes with no page requested) left out: the statements every one of three requests ran, their calls in one request,
/// and their execution time over the timed requests. Last, one request per page with auto_explain (EXPLAIN ANALYZE of
/// every statement, JSON in the server log): each of the page's statements' plan, summarised.
/// </summary>
internal static partial class ConsoleBenchmark
{
    private const int Predictors = 100;
    private const int ModelsPerPredictor = 5;
    private const int Models = Predictors * ModelsPerPredictor;
    private const int Features = 300;
    private const int DriftWindows = 6;
    private const int ReferenceRows = 2_000;
    private const int WarmUps = 5;
    private const int Requests = 50;
    private const int MinRequests = 10;
    private static readonly TimeSpan PageBudget = TimeSpan.FromSeconds(150);
    private const double GoalMs = 300;

    /// <summary>Window size, windows stored (the open one and those before it), predictions per model and window.</summary>
    private static readonly (int Seconds, int Windows, long Predictions)[] Sizes = [(60, 60, 200), (300, 72, 1_000), (3600, 24, 12_000)];

    private const string Predictor = "'predictor_' || lpad((m / 5)::text, 3, '0')";
    private const string Model = "'model_' || (m % 5)";
    private const string Feature = "'feature_' || lpad(f::text, 3, '0')";

    private sealed record Page(string Label, string Route, Func<int, string> Url, string Marker, bool Gzip = false);

    private sealed record Statement(long QueryId, string Query, long Calls, double TotalMs, double MaxMs, long Rows);

    public static async Task RunAsync(BenchmarkContext context)
    {
        await using var postgres = await PostgresServer.CreateAsync(sharedBuffers: "128MB");
        await using (var admin = new NpgsqlConnection(postgres.ConnectionString))
        {
            await admin.OpenAsync();
            await admin.ExecuteAsync("ALTER SYSTEM SET shared_preload_libraries = pg_stat_statements, auto_explain");
        }
        await postgres.StopAsync();
        await postgres.StartAsync();
        NpgsqlConnection.ClearAllPools(); // the connection above, closed by the restart
        var database = await postgres.CreateDatabaseAsync("console");
        var seeding = new NpgsqlConnectionStringBuilder(database) { CommandTimeout = 0 }.ConnectionString;
        await using var dataSource = NpgsqlDataSource.Create(seeding);
        await new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance).MigrateAsync(CancellationToken.None);
        await using var db = await dataSource.OpenConnectionAsync();
        await db.ExecuteAsync("CREATE EXTENSION pg_stat_statements");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fleet: {Predictors} predictors × {ModelsPerPredictor} models × {Features} features; windows {string.Join(", ", Sizes.Select(s => $"{s.Windows} × {s.Seconds} s ({s.Predictions:N0} predictions each)"))}; drift rows for the latest {DriftWindows} completed windows of each size; Postgres shared_buffers 128MB"));

        var now = DateTimeOffset.UtcNow;
        await SeedAsync(dataSource, db, now);

        var port = ChildProcess.FreePort();
        var served = new ConcurrentQueue<(string Route, double Ms)>();
        await using var exporter = ChildProcess.Start("ModelMonitor.Exporter", [], new Dictionary<string, string>
        {
            ["Urls"] = $"http://127.0.0.1:{port}",
            ["ConnectionStrings__Postgres"] = database,
            // The server's own time per request: Serilog's request line ("HTTP GET /model responded 200 in 41.2 ms"), at
            // Debug for pages and Verbose for scrapes, so switched on for that logger alone.
            ["Serilog__MinimumLevel__Override__Serilog.AspNetCore.RequestLoggingMiddleware"] = "Verbose",
        }, context.Options.LogDirectory, line =>
        {
            if (RequestLine(line) is { } request)
            {
                served.Enqueue(request);
            }
        });
        var started = Stopwatch.StartNew();
        await exporter.WaitHttpOkAsync($"http://127.0.0.1:{port}/readyz", TimeSpan.FromSeconds(300));
        var ready = started.Elapsed.TotalSeconds;
        using var http = new HttpClient(new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.None })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}"),
            Timeout = TimeSpan.FromSeconds(120),
        };

        // The exporter's own statements (refresh, references, registry, readiness): learnt over two full refreshes with no
        // page requested, then left out of every page's figures.
        await ResetStatementsAsync(db);
        var refreshes = 0;
        var last = await MetricAsync(http, "modelmonitor_exporter_last_refresh_timestamp_seconds");
        while (refreshes < 2 && started.Elapsed < TimeSpan.FromSeconds(ready + 120))
        {
            await Task.Delay(500);
            var current = await MetricAsync(http, "modelmonitor_exporter_last_refresh_timestamp_seconds");
            if (current > last)
            {
                (last, refreshes) = (current, refreshes + 1);
            }
        }
        var background = (await StatementsAsync(db)).Select(s => s.QueryId).ToHashSet();
        var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"exporter: ready {ready:F1} s after start; {Exposition.Sample(metrics, "modelmonitor_exporter_series"):N0} series; last refresh {Exposition.Sample(metrics, "modelmonitor_exporter_refresh_duration_seconds"):F2} s (every 15 s, default); {background.Count} statements of its own (refresh, references, registry) left out of the pages' counts"));

        Page[] pages =
        [
            new("/ (overview)", "/", _ => "/", "predictor_099"),
            new("/model (24h)", "/model", i => $"/model?{Target(i).Model}", "feature_299"),
            new("/model range=1h window=60", "/model", i => $"/model?{Target(i).Model}&range=1h&window=60", "feature_299"),
            new("/feature (24h)", "/feature", i => $"/feature?{Target(i).Model}&feature={Target(i).Feature}", "<svg"),
            new("/feature range=6h window=300", "/feature", i => $"/feature?{Target(i).Model}&feature={Target(i).Feature}&range=6h&window=300", "<svg"),
            new("/metrics/statistics", "/metrics/statistics", _ => "/metrics/statistics", "modelmonitor_"),
            new("/metrics/statistics gzip", "/metrics/statistics", _ => "/metrics/statistics", "", Gzip: true),
        ];
        var buffer = new byte[1 << 20];
        var results = new List<(Page Page, List<double> Times, List<double> Server, long Bytes, long Statements, double SqlMs, List<Statement> Sql, HashSet<string> Texts)>();
        foreach (var page in pages)
        {
            await CheckAsync(http, page);
            for (var i = 0; i < WarmUps; i++)
            {
                await GetAsync(http, page, i, buffer);
            }

            // The page's statements: those run by each of three requests (the exporter's own, learnt above, left out; one it
            // runs now and then is not in every request); their calls in one request.
            HashSet<long>? ids = null;
            var calls = new List<Dictionary<long, long>>();
            var texts = new Dictionary<long, string>();
            for (var attempt = 0; attempt < 3; attempt++)
            {
                await ResetStatementsAsync(db);
                await GetAsync(http, page, attempt, buffer);
                var seen = (await StatementsAsync(db)).Where(s => !background.Contains(s.QueryId)).ToList();
                calls.Add(seen.ToDictionary(s => s.QueryId, s => s.Calls));
                seen.ForEach(s => texts[s.QueryId] = s.Query);
                ids = ids is null ? [.. seen.Select(s => s.QueryId)] : [.. ids.Intersect(seen.Select(s => s.QueryId))];
            }
            var statements = calls.Min(c => ids!.Sum(id => c[id]));

            await ResetStatementsAsync(db);
            served.Clear();
            var times = new List<double>();
            long bytes = 0;
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < Requests && (i < MinRequests || clock.Elapsed < PageBudget); i++)
            {
                var (ms, length) = await GetAsync(http, page, WarmUps + i, buffer);
                times.Add(ms);
                bytes += length;
            }
            await Task.Delay(500);
            var server = served.Where(r => r.Route == page.Route).Select(r => r.Ms).Order().ToList();
            var sql = (await StatementsAsync(db)).Where(s => ids!.Contains(s.QueryId)).OrderByDescending(s => s.TotalMs).ToList();
            times.Sort();
            results.Add((page, times, server, bytes / times.Count, statements, sql.Sum(s => s.TotalMs) / times.Count, sql, [.. ids!.Select(id => Normalize(texts[id]))]));
        }

        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"-- up to {Requests} sequential requests per page (at least {MinRequests}, then until {PageBudget.TotalSeconds:F0} s) after {WarmUps} warm-ups, each for another model and feature; client: time to the full response on 127.0.0.1; server: the exporter's own request log (Serilog, end of the response) --"));
        Console.WriteLine("page                          requests  client p50  p95      max      server p50  p95      max      bytes         SQL statements  SQL ms/request  goal ≤ 300 ms (server p95)");
        foreach (var (page, times, server, bytes, statements, sqlMs, _, _) in results)
        {
            var p95 = server.Count > 0 ? Stats.Quantile(server, 0.95) : double.NaN;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{page.Label,-29} {times.Count,-9} {Stats.Quantile(times, 0.5),-11:F1} {Stats.Quantile(times, 0.95),-8:F1} {times[^1],-8:F1} {Stats.Quantile(server, 0.5),-11:F1} {p95,-8:F1} {(server.Count > 0 ? server[^1] : double.NaN),-8:F1} {bytes,-13:N0} {statements,-15} {sqlMs,-15:F1} {(page.Label.StartsWith("/metrics", StringComparison.Ordinal) ? "(reference)" : p95 <= GoalMs ? "met" : "NOT met")}"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"(SQL statements: pg_stat_statements calls in one request, fewest of 3; SQL ms/request: their execution time over the timed requests / requests; exporter RSS at the end {exporter.RssBytes() / 1048576.0:F0} MB)"));

        Console.WriteLine();
        Console.WriteLine("-- SQL of each page over its timed requests (pg_stat_statements): calls per request, mean ms (max ms), rows per call, statement --");
        foreach (var (page, times, _, _, _, _, sql, _) in results.Where(r => r.Sql.Count > 0))
        {
            Console.WriteLine(page.Label);
            foreach (var s in sql)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {(double)s.Calls / times.Count,4:F1} × {s.TotalMs / s.Calls,8:F1} ms ({s.MaxMs,7:F1})  {(double)s.Rows / s.Calls,6:F0} rows  {FirstLine(s.Query)}"));
            }
        }

        await ExplainAsync(db, http, context.Options.LogDirectory, [.. results.Where(r => r.Texts.Count > 0).Select(r => (r.Page, r.Texts))], buffer);
    }

    /// <summary>The model (and feature) of request i: a different one each time, spread over the fleet.</summary>
    private static (string Model, string Feature) Target(int i)
    {
        var m = ((i * 37) + 11) % Models;
        return (string.Create(CultureInfo.InvariantCulture, $"predictor=predictor_{m / ModelsPerPredictor:D3}&model=model_{m % ModelsPerPredictor}"),
            string.Create(CultureInfo.InvariantCulture, $"feature_{((i * 53) + 7) % Features:D3}"));
    }

    private static async Task CheckAsync(HttpClient http, Page page)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(page.Url(0), UriKind.Relative));
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK || !text.Contains(page.Marker, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"{page.Url(0)}: {(int)response.StatusCode}, no '{page.Marker}' in {text[..Math.Min(text.Length, 2_000)]}");
        }
    }

    private static async Task<(double Ms, long Bytes)> GetAsync(HttpClient http, Page page, int i, byte[] buffer)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(page.Url(i), UriKind.Relative));
        if (page.Gzip)
        {
            request.Headers.AcceptEncoding.ParseAdd("gzip");
        }
        var started = Stopwatch.GetTimestamp();
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var stream = await response.Content.ReadAsStreamAsync();
        long bytes = 0;
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            bytes += read;
        }
        var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"{page.Url(i)}: {(int)response.StatusCode}");
        }
        return (ms, bytes);
    }

    /// <summary>"… HTTP GET /model responded 200 in 41.2 ms" (ServiceLogging.RequestTemplate): the route and the time.</summary>
    private static (string Route, double Ms)? RequestLine(string line)
    {
        var at = line.IndexOf("HTTP GET ", StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }
        var parts = line[(at + 9)..].Split(' ');
        return parts is [var route, "responded", "200", "in", var ms, "ms"] && double.TryParse(ms, CultureInfo.InvariantCulture, out var value)
            ? (route, value)
            : null;
    }

    private static async Task<double> MetricAsync(HttpClient http, string name) =>
        Exposition.Sample(await http.GetStringAsync(new Uri("/metrics", UriKind.Relative)), name);

    private static async Task ResetStatementsAsync(NpgsqlConnection db) => await db.ExecuteAsync("SELECT pg_stat_statements_reset()");

    /// <summary>The statements run in this database since the last reset, but those reading pg_stat_statements.</summary>
    private static async Task<List<Statement>> StatementsAsync(NpgsqlConnection db) =>
        [.. await db.QueryAsync<Statement>(
            """
            SELECT queryid, query, calls, total_exec_time AS totalms, max_exec_time AS maxms, rows FROM pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'
            """)];

    private static string FirstLine(string query)
    {
        var line = string.Join(' ', query.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return line.Length <= 110 ? line : line[..110] + "…";
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Plans: auto_explain (preloaded) switched on for every statement, one request per page, the plans read back from the
    // server log (JSON) and matched to the page's statements by query id.

    private static async Task ExplainAsync(NpgsqlConnection db, HttpClient http, string logDirectory, IReadOnlyList<(Page Page, HashSet<string> Texts)> pages, byte[] buffer)
    {
        var dataDirectory = await db.ExecuteScalarAsync<string>("SHOW data_directory");
        var log = Path.Combine(Path.GetDirectoryName(dataDirectory!.TrimEnd('/'))!, "server.log");
        string[] settings = ["auto_explain.log_min_duration = 0", "auto_explain.log_analyze = on", "auto_explain.log_buffers = on",
            "auto_explain.log_format = 'json'"];
        foreach (var setting in settings)
        {
            await db.ExecuteAsync("ALTER SYSTEM SET " + setting);
        }
        await db.ExecuteAsync("SELECT pg_reload_conf()");
        await Task.Delay(1_000);
        var plansFile = Path.Combine(logDirectory, "console-plans.json.log");
        Console.WriteLine();
        Console.WriteLine($"-- EXPLAIN ANALYZE of each statement of one request per page (auto_explain; its instrumentation adds to the times; full plans in {plansFile}) --");
        try
        {
            await using var plans = new StreamWriter(plansFile);
            for (var p = 0; p < pages.Count; p++)
            {
                var (page, texts) = pages[p];
                var offset = new FileInfo(log).Length;
                await GetAsync(http, page, 1_000 + p, buffer);
                await Task.Delay(500);
                Console.WriteLine($"{page.Label}  ({page.Url(1_000 + p)})");
                foreach (var (duration, plan) in ReadPlans(log, offset))
                {
                    if (!texts.Contains(Normalize(plan.GetProperty("Query Text").GetString() ?? "")))
                    {
                        continue;
                    }
                    await plans.WriteLineAsync($"-- {page.Label}, {duration.ToString("F3", CultureInfo.InvariantCulture)} ms");
                    await plans.WriteLineAsync(plan.GetRawText());
                    Console.WriteLine("  " + Summarize(duration, plan));
                }
            }
        }
        finally
        {
            foreach (var setting in settings)
            {
                await db.ExecuteAsync("ALTER SYSTEM RESET " + setting.Split(' ')[0]);
            }
            await db.ExecuteAsync("SELECT pg_reload_conf()");
        }
    }

    /// <summary>
    /// A statement's text with its comments, constants and parameters as '?' and its white space collapsed: the same for the
    /// text a plan logs (the statement as sent: parameters $n, constants written out) and for pg_stat_statements' (constants
    /// as $n too). Postgres 15's auto_explain does not log the query id (16's does).
    /// </summary>
    private static string Normalize(string query) =>
        string.Join(' ', Constants().Replace(query, "?").Split((char[])[' ', '\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries));

    [GeneratedRegex(@"--[^\n]*|'(?:[^']|'')*'|\$\d+|(?<![\w.])\d+(?:\.\d+)?(?![\w.])|\b(?:true|false|null)\b", RegexOptions.IgnoreCase)]
    private static partial Regex Constants();

    private static List<(double Duration, JsonElement Plan)> ReadPlans(string log, long offset)
    {
        using var stream = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        stream.Seek(offset, SeekOrigin.Begin);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var lines = reader.ReadToEnd().Split('\n');
        var plans = new List<(double, JsonElement)>();
        for (var i = 0; i < lines.Length; i++)
        {
            var at = lines[i].IndexOf("LOG:  duration: ", StringComparison.Ordinal);
            if (at < 0 || !lines[i].EndsWith("plan:", StringComparison.Ordinal))
            {
                continue;
            }
            var duration = double.Parse(lines[i][(at + 16)..].Split(' ')[0], CultureInfo.InvariantCulture);
            var json = new StringBuilder();
            while (i + 1 < lines.Length && lines[i + 1].StartsWith('\t'))
            {
                json.AppendLine(lines[++i][1..]);
            }
            try
            {
                using var document = JsonDocument.Parse(json.ToString());
                plans.Add((duration, document.RootElement.Clone()));
            }
            catch (JsonException)
            {
                // Not a whole plan (the log line was cut): skipped.
            }
        }
        return plans;
    }

    /// <summary>The statement's time, its first line, the top node, the node with the most time of its own, and the buffers.</summary>
    private static string Summarize(double duration, JsonElement entry)
    {
        var plan = entry.GetProperty("Plan");
        var (slowest, slowestMs) = Slowest(plan);
        static double Get(JsonElement node, string name) => node.TryGetProperty(name, out var v) ? v.GetDouble() : 0;
        static string Name(JsonElement node) => node.GetProperty("Node Type").GetString()
            + (node.TryGetProperty("Index Name", out var index) ? $" using {index.GetString()}" : node.TryGetProperty("Relation Name", out var relation) ? $" on {relation.GetString()}" : "");
        var query = FirstLine(entry.GetProperty("Query Text").GetString() ?? "");
        var jit = entry.TryGetProperty("JIT", out var j)
            ? string.Create(CultureInfo.InvariantCulture, $"; JIT {j.GetProperty("Timing").GetProperty("Total").GetDouble():F0} ms ({j.GetProperty("Functions").GetInt32()} functions)")
            : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"{duration,8:F2} ms  {query[..Math.Min(80, query.Length)]}\n             top: {Name(plan)}, {Get(plan, "Actual Rows"):F0} rows; most own time: {Name(slowest)} {slowestMs:F2} ms, {Get(slowest, "Actual Rows"):F0} rows × {Get(slowest, "Actual Loops"):F0} loops; buffers hit {Get(plan, "Shared Hit Blocks"):F0} read {Get(plan, "Shared Read Blocks"):F0}{jit}");
    }

    private static (JsonElement Node, double OwnMs) Slowest(JsonElement node)
    {
        static double Total(JsonElement n) => n.GetProperty("Actual Total Time").GetDouble() * n.GetProperty("Actual Loops").GetDouble();
        var own = Total(node);
        var best = (node, 0.0);
        if (node.TryGetProperty("Plans", out var children))
        {
            foreach (var child in children.EnumerateArray())
            {
                own -= Total(child);
                var candidate = Slowest(child);
                if (candidate.OwnMs > best.Item2)
                {
                    best = candidate;
                }
            }
        }
        return own >= best.Item2 ? (node, own) : best;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Seeding.

    private sealed record SketchRow(string Kind, int WindowSeconds, int Variant, long N, double Mean, double M2, double Stddev, double Min, double Max,
        double P05, double P25, double P50, double P75, double P95, byte[] Sketch);

    /// <summary>Seeds the fleet (<see cref="ConsoleBenchmark"/>), with <paramref name="sizes"/> (window size, windows stored,
    /// predictions per model and window; default the console's) and drift rows for the latest <paramref name="driftWindows"/>
    /// completed windows of each size.</summary>
    internal static async Task SeedAsync(NpgsqlDataSource dataSource, NpgsqlConnection db, DateTimeOffset now,
        (int Seconds, int Windows, long Predictions)[]? sizes = null, int driftWindows = DriftWindows)
    {
        sizes ??= Sizes;
        var total = Stopwatch.StartNew();
        var random = new Random(19);
        await db.ExecuteAsync(
            """
            CREATE UNLOGGED TABLE bench_sketches (kind text, window_seconds integer, variant integer, n bigint, mean double precision,
                m2 double precision, stddev double precision, min double precision, max double precision, p05 double precision,
                p25 double precision, p50 double precision, p75 double precision, p95 double precision, sketch bytea,
                PRIMARY KEY (kind, window_seconds, variant))
            """);
        var sketches = new List<SketchRow>();
        foreach (var (seconds, _, predictions) in sizes)
        {
            for (var v = 0; v < 8; v++)
            {
                // 0.25 % to 2 % of the predictions without the feature (variant 7: room for one non-finite value).
                sketches.Add(Sketch(random, "feature", seconds, v, predictions - (predictions * (v + 1) / 400), 50 + v, 10));
                sketches.Add(Sketch(random, "prediction", seconds, v, predictions, 0.5 + (0.005 * v), 0.1));
            }
            sketches.Add(Sketch(random, "missing", seconds, 0, predictions * 4 / 10, 50, 10));
        }
        for (var v = 0; v < 8; v++)
        {
            sketches.Add(Sketch(random, "reference", 0, v, ReferenceRows, 53.5, 10));
        }
        sketches.Add(Sketch(random, "reference_prediction", 0, 0, ReferenceRows, 0.52, 0.1));
        await db.ExecuteAsync(
            """
            INSERT INTO bench_sketches VALUES (@Kind, @WindowSeconds, @Variant, @N, @Mean, @M2, @Stddev, @Min, @Max, @P05, @P25, @P50, @P75, @P95, @Sketch)
            """, sketches);

        var timings = new List<string>();
        var phase = Stopwatch.StartNew();
        var names = new { models = Models, predictors = Predictors, now = now.UtcDateTime };
        await db.ExecuteAsync($"INSERT INTO models SELECT {Predictor}, {Model}, @now::timestamptz - interval '30 days', @now FROM generate_series(0, @models - 1) AS m", names);
        await db.ExecuteAsync(
            """
            INSERT INTO predictors (predictor_name, primary_model_id, shadow_model_ids, team, source, updated_at)
            SELECT 'predictor_' || lpad(p::text, 3, '0'), 'model_0', ARRAY['model_1'], 'team_' || (p % 10), 'api', @now::timestamptz - interval '10 days'
            FROM generate_series(0, @predictors - 1) AS p
            """, names);
        await db.ExecuteAsync(
            $"""
            INSERT INTO predictor_models (predictor_name, model_id, trained_at, training_data_end, source)
            SELECT {Predictor}, {Model}, @now::timestamptz - make_interval(days => 31 + m % 30), @now::timestamptz - make_interval(days => 32 + m % 30), 'api'
            FROM generate_series(0, @models - 1) AS m
            """, names);
        await db.ExecuteAsync(
            """
            INSERT INTO predictor_primaries (predictor_name, model_id, source, since)
            SELECT predictor_name, primary_model_id, 'registered', updated_at FROM predictors
            """);
        await db.ExecuteAsync("INSERT INTO evaluation_predictors (predictor_name, task, source) SELECT predictor_name, 'regression', 'configured' FROM predictors");

        foreach (var (seconds, windows, predictions) in sizes)
        {
            var current = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds() / seconds * seconds).UtcDateTime;
            var window = new { size = seconds, windows, current, predictions, models = Models, predictors = Predictors };
            await db.ExecuteAsync(
                $"""
                INSERT INTO model_window_stats (window_seconds, window_start, predictor_name, model_id, prediction_count, nonfinite_count, numeric_count,
                    mean, m2, stddev, min, max, p05, p25, p50, p75, p95, sketch)
                SELECT @size, @current::timestamptz - make_interval(secs => @size * k), {Predictor}, {Model}, s.n, 0, s.n,
                       s.mean, s.m2, s.stddev, s.min, s.max, s.p05, s.p25, s.p50, s.p75, s.p95, s.sketch
                FROM generate_series(@windows - 1, 0, -1) AS k CROSS JOIN generate_series(0, @models - 1) AS m
                JOIN bench_sketches s ON s.kind = 'prediction' AND s.window_seconds = @size AND s.variant = (m * 13 + k) % 8
                ORDER BY k DESC, m
                """, window);

            var evaluation = new EvaluationAccumulator(EvaluationTask.Regression);
            evaluation.CountPredictions(predictions);
            for (var i = 0; i < predictions * 8 / 10; i++)
            {
                var actual = 10 + (3 * Normal(random));
                evaluation.AddRegression(actual + (0.5 * Normal(random)), actual, 60 + (600 * random.NextDouble()), 1);
            }
            var e = evaluation.Summarize();
            await db.ExecuteAsync(
                $"""
                INSERT INTO evaluation_window_stats (window_seconds, window_start, predictor_name, model_id, task, prediction_count, labelled_count,
                    label_coverage, mae, rmse, mean_error, r2, state)
                SELECT @size, @current::timestamptz - make_interval(secs => @size * k), {Predictor}, {Model}, 'regression', @predictions, @labelled,
                       @coverage, @mae, @rmse, @meanError, @r2, @state
                FROM generate_series(@windows - 1, 0, -1) AS k CROSS JOIN generate_series(0, @models - 1) AS m
                """,
                new { size = seconds, windows, current, predictions, models = Models, labelled = e.LabelledCount, coverage = e.LabelCoverage, mae = e.Mae, rmse = e.Rmse, meanError = e.MeanError, r2 = e.R2, state = evaluation.Serialize() });

            var shadow = new ShadowAccumulator();
            for (var i = 0; i < predictions; i++)
            {
                var a = 0.5 + (0.1 * Normal(random));
                shadow.Add(a, a + (0.02 * Normal(random)), null);
            }
            var s = shadow.Summarize();
            double? Q(double q) => s.AbsDiffQuantiles.FirstOrDefault(x => x.Quantile.Equals(q)).Value;
            await db.ExecuteAsync(
                """
                INSERT INTO shadow_window_stats (window_seconds, window_start, predictor_name, model_a, model_b, pairs, diff_mean, abs_diff_mean,
                    abs_diff_p50, abs_diff_p90, abs_diff_p95, abs_diff_p99, correlation, state)
                SELECT @size, @current::timestamptz - make_interval(secs => @size * k), 'predictor_' || lpad(p::text, 3, '0'), 'model_0', 'model_1',
                       @pairs, @diffMean, @absDiffMean, @p50, @p90, @p95, @p99, @correlation, @state
                FROM generate_series(@windows - 1, 0, -1) AS k CROSS JOIN generate_series(0, @predictors - 1) AS p
                """,
                new { size = seconds, windows, current, predictors = Predictors, pairs = s.Pairs, diffMean = s.DiffMean, absDiffMean = s.AbsDiffMean, p50 = Q(0.5), p90 = Q(0.9), p95 = Q(0.95), p99 = Q(0.99), correlation = s.Correlation, state = shadow.Serialize() });
            await db.ExecuteAsync(
                """
                INSERT INTO shadow_model_window_stats (window_seconds, window_start, predictor_name, model_id, prediction_count)
                SELECT @size, @current::timestamptz - make_interval(secs => @size * k), 'predictor_' || lpad(p::text, 3, '0'), m, @predictions
                FROM generate_series(@windows - 1, 0, -1) AS k CROSS JOIN generate_series(0, @predictors - 1) AS p CROSS JOIN unnest(ARRAY['model_0', 'model_1']) AS m
                """, window);
        }
        timings.Add(string.Create(CultureInfo.InvariantCulture, $"models, registry, model/evaluation/shadow windows {phase.Elapsed.TotalSeconds:F1} s"));

        // feature_window_stats: one statement per window (oldest first, as the aggregator writes them), two connections at
        // once, the indexes dropped before and built after (the same definitions, read from the catalog).
        phase.Restart();
        var rebuild = await DropIndexesAsync(db, "feature_window_stats");
        var windowStatements = new List<(DateTime Start, string Sql, object Parameters)>();
        foreach (var (seconds, windows, predictions) in sizes)
        {
            var current = now.ToUnixTimeSeconds() / seconds * seconds;
            for (var k = windows - 1; k >= 0; k--)
            {
                var start = DateTimeOffset.FromUnixTimeSeconds(current - ((long)k * seconds)).UtcDateTime;
                windowStatements.Add((start, FeatureWindowSql, new { size = seconds, start, k, predictions, models = Models, features = Features }));
            }
        }
        await ParallelAsync(dataSource, [.. windowStatements.OrderBy(s => s.Start).Select(s => (s.Sql, s.Parameters))]);
        var inserted = phase.Elapsed.TotalSeconds;
        await RebuildAsync(db, rebuild);
        timings.Add(string.Create(CultureInfo.InvariantCulture, $"feature_window_stats {phase.Elapsed.TotalSeconds:F1} s ({inserted:F1} s inserting, {phase.Elapsed.TotalSeconds - inserted:F1} s building its 2 indexes)"));

        phase.Restart();
        rebuild = await DropIndexesAsync(db, "feature_drift");
        var statements = new List<(string, object)>();
        foreach (var (seconds, _, predictions) in sizes)
        {
            var current = now.ToUnixTimeSeconds() / seconds * seconds;
            for (var k = driftWindows; k >= 1; k--)
            {
                var start = DateTimeOffset.FromUnixTimeSeconds(current - ((long)k * seconds)).UtcDateTime;
                statements.Add((FeatureDriftSql, new { size = seconds, start, k, models = Models, features = Features }));
                await db.ExecuteAsync(
                    "INSERT INTO drift_windows (window_seconds, window_start, prediction_count, computed_at) VALUES (@size, @start, @total, @start::timestamptz + make_interval(secs => @size + 30))",
                    new { size = seconds, start, total = predictions * Models });
            }
        }
        await ParallelAsync(dataSource, statements);
        await RebuildAsync(db, rebuild);
        timings.Add(string.Create(CultureInfo.InvariantCulture, $"feature_drift {phase.Elapsed.TotalSeconds:F1} s"));

        phase.Restart();
        await db.ExecuteAsync(
            $"""
            INSERT INTO reference_profiles (predictor_name, model_id, name, kind, source, row_count, created_at)
            SELECT {Predictor}, {Model}, 'training', 'uploaded', 'text/csv', @rows, @now::timestamptz - interval '20 days' FROM generate_series(0, @models - 1) AS m
            """, new { rows = ReferenceRows, models = Models, now = now.UtcDateTime });
        await db.ExecuteAsync(
            $$"""
            INSERT INTO reference_features (reference_id, subject, feature, observed_type, value_count, null_count, default_count, nonfinite_count,
                numeric_count, mean, m2, stddev, min, max, p05, p25, p50, p75, p95, sketch, categorical_count, boolean_count, categories)
            SELECT r.id, 'feature', {{Feature}}, CASE WHEN f % 10 = 9 THEN 'categorical' ELSE 'numeric' END, @rows, 0, 0, 0,
                   CASE WHEN f % 10 = 9 THEN 0 ELSE s.n END, s.mean, coalesce(s.m2, 0), s.stddev, s.min, s.max, s.p05, s.p25, s.p50, s.p75, s.p95, s.sketch,
                   CASE WHEN f % 10 = 9 THEN @rows ELSE 0 END, 0,
                   CASE WHEN f % 10 = 9 THEN '{"red": 800, "green": 600, "blue": 400, "__other__": 200}'::jsonb ELSE '{}'::jsonb END
            FROM reference_profiles r CROSS JOIN generate_series(0, @features - 1) AS f
            LEFT JOIN bench_sketches s ON f % 10 <> 9 AND s.kind = 'reference' AND s.variant = f % 8
            UNION ALL
            SELECT r.id, 'prediction', '', 'numeric', @rows, 0, 0, 0, s.n, s.mean, s.m2, s.stddev, s.min, s.max, s.p05, s.p25, s.p50, s.p75, s.p95, s.sketch, 0, 0, '{}'::jsonb
            FROM reference_profiles r JOIN bench_sketches s ON s.kind = 'reference_prediction'
            """, new { rows = ReferenceRows, features = Features });
        await db.ExecuteAsync("DROP TABLE bench_sketches");
        timings.Add(string.Create(CultureInfo.InvariantCulture, $"references {phase.Elapsed.TotalSeconds:F1} s"));

        phase.Restart();
        await db.ExecuteAsync("VACUUM ANALYZE");
        timings.Add(string.Create(CultureInfo.InvariantCulture, $"VACUUM ANALYZE {phase.Elapsed.TotalSeconds:F1} s"));

        var counts = new List<string>();
        foreach (var table in new[] { "models", "predictors", "model_window_stats", "feature_window_stats", "feature_drift", "drift_windows", "reference_profiles", "reference_features", "evaluation_window_stats", "shadow_window_stats" })
        {
            var rows = await db.ExecuteScalarAsync<long>($"SELECT count(*) FROM {table}");
            var bytes = await db.ExecuteScalarAsync<long>("SELECT pg_total_relation_size(to_regclass(@table))", new { table });
            counts.Add(string.Create(CultureInfo.InvariantCulture, $"{table} {rows:N0} ({bytes / 1048576.0:N0} MB)"));
        }
        var size = await db.ExecuteScalarAsync<long>("SELECT pg_database_size(current_database())");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"seeded in {total.Elapsed.TotalSeconds:F0} s: {string.Join("; ", timings)}"));
        Console.WriteLine("rows (with indexes and TOAST): " + string.Join(", ", counts));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"database size (pg_database_size): {size / 1073741824.0:F2} GiB"));
    }

    /// <summary>
    /// One window of every model's features. Every tenth feature categorical (4 categories); the rest numeric with a real
    /// sketch (8 variants per size, 0.25–2 % missing). Problems for the overview: feature_007 of every tenth model (m % 10 = 3)
    /// 60 % missing, feature_011 of m % 10 = 5 70 % defaulted, feature_013 of every 25th model one non-finite value.
    /// </summary>
    private const string FeatureWindowSql =
        $$"""
        INSERT INTO feature_window_stats (window_seconds, window_start, predictor_name, model_id, feature, value_count, null_count, default_count,
            nonfinite_count, numeric_count, mean, m2, stddev, min, max, p05, p25, p50, p75, p95, sketch, categorical_count, boolean_count, categories, updated_at)
        SELECT @size, @start, {{Predictor}}, {{Model}}, {{Feature}},
               CASE WHEN x.categorical THEN x.present ELSE s.n + x.nonfinite END, 0,
               CASE WHEN x.defaulted THEN @predictions * 7 / 10 ELSE @predictions / 100 END, x.nonfinite,
               CASE WHEN x.categorical THEN 0 ELSE s.n END,
               s.mean, coalesce(s.m2, 0), s.stddev, s.min, s.max, s.p05, s.p25, s.p50, s.p75, s.p95, s.sketch,
               CASE WHEN x.categorical THEN x.present ELSE 0 END, 0,
               CASE WHEN x.categorical THEN jsonb_build_object('red', x.present * 4 / 10, 'green', x.present * 3 / 10, 'blue', x.present * 2 / 10,
                   '__other__', x.present - (x.present * 4 / 10) - (x.present * 3 / 10) - (x.present * 2 / 10)) ELSE '{}'::jsonb END,
               @start::timestamptz + make_interval(secs => @size)
        FROM (SELECT m, f, f % 10 = 9 AS categorical, f = 7 AND m % 10 = 3 AS missing, f = 11 AND m % 10 = 5 AS defaulted,
                     CASE WHEN f = 13 AND m % 25 = 0 THEN 1 ELSE 0 END AS nonfinite, (f * 31 + m * 17 + @k) % 8 AS v,
                     @predictions - @predictions * ((f * 31 + m * 17 + @k) % 8 + 1) / 400 AS present
              FROM generate_series(0, @models - 1) AS m CROSS JOIN generate_series(0, @features - 1) AS f) AS x
        LEFT JOIN bench_sketches s ON NOT x.categorical AND s.window_seconds = @size
             AND s.kind = CASE WHEN x.missing THEN 'missing' ELSE 'feature' END
             AND s.variant = CASE WHEN x.missing THEN 0 WHEN x.nonfinite = 1 THEN 7 ELSE x.v END
        ORDER BY x.m, x.f
        """;

    /// <summary>One drift window of every model's features against its 'training' reference: Jensen-Shannon the alert
    /// method (threshold 0.1); feature_021 of every seventh model (m % 7 = 2) drifting, feature_299 of m % 50 = 1 new.</summary>
    private const string FeatureDriftSql =
        $$"""
        INSERT INTO feature_drift (window_seconds, window_start, predictor_name, model_id, feature, reference, psi, jensen_shannon, ks, wasserstein,
            linf, out_of_range_ratio, unseen_category_ratio, schema_anomaly, alert_method, alert_threshold, drifting, computed_at)
        SELECT @size, @start, {{Predictor}}, {{Model}}, {{Feature}}, 'training', 2 * x.d, x.d,
               CASE WHEN x.categorical THEN NULL ELSE 1.5 * x.d END, CASE WHEN x.categorical THEN NULL ELSE 3 * x.d END,
               CASE WHEN x.categorical THEN x.d END, CASE WHEN x.categorical THEN NULL ELSE 0.001 END, CASE WHEN x.categorical THEN 0.0 END,
               CASE WHEN f = 299 AND m % 50 = 1 THEN 'new_feature' END, 'jensen_shannon', 0.1, x.d > 0.1,
               @start::timestamptz + make_interval(secs => @size + 30)
        FROM (SELECT m, f, f % 10 = 9 AS categorical,
                     CASE WHEN f = 21 AND m % 7 = 2 THEN 0.3 ELSE 0.005 + ((f * 7 + m * 11 + @k) % 20) / 1000.0 END AS d
              FROM generate_series(0, @models - 1) AS m CROSS JOIN generate_series(0, @features - 1) AS f) AS x
        ORDER BY x.m, x.f
        """;

    private static async Task ParallelAsync(NpgsqlDataSource dataSource, List<(string Sql, object Parameters)> statements)
    {
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 2).Select(async _ =>
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            int i;
            while ((i = Interlocked.Increment(ref next)) < statements.Count)
            {
                await connection.ExecuteAsync(statements[i].Sql, statements[i].Parameters);
            }
        }));
    }

    /// <summary>Drops the table's primary key and indexes; the statements that build them again (as the migrations define them).</summary>
    private static async Task<List<string>> DropIndexesAsync(NpgsqlConnection db, string table)
    {
        var (key, definition) = await db.QuerySingleAsync<(string, string)>(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(@table) AND contype = 'p'", new { table });
        var indexes = (await db.QueryAsync<(string Name, string Definition)>(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = @table AND indexname <> @key", new { table, key })).ToList();
        foreach (var index in indexes)
        {
            await db.ExecuteAsync($"DROP INDEX {index.Name}");
        }
        await db.ExecuteAsync($"ALTER TABLE {table} DROP CONSTRAINT {key}");
        return [$"ALTER TABLE {table} ADD CONSTRAINT {key} {definition}", .. indexes.Select(i => i.Definition)];
    }

    private static async Task RebuildAsync(NpgsqlConnection db, List<string> statements)
    {
        await db.ExecuteAsync("SET maintenance_work_mem = '1GB'");
        foreach (var statement in statements)
        {
            await db.ExecuteAsync(statement);
        }
        await db.ExecuteAsync("RESET maintenance_work_mem");
    }

    private static SketchRow Sketch(Random random, string kind, int windowSeconds, int variant, long n, double mean, double sd)
    {
        var sketch = new DDSketch();
        double average = 0, m2 = 0, min = double.MaxValue, max = double.MinValue;
        for (var i = 1; i <= n; i++)
        {
            var x = mean + (sd * Normal(random));
            sketch.Add(x);
            var delta = x - average;
            average += delta / i;
            m2 += delta * (x - average);
            (min, max) = (Math.Min(min, x), Math.Max(max, x));
        }
        return new SketchRow(kind, windowSeconds, variant, n, average, m2, Math.Sqrt(m2 / (n - 1)), min, max,
            sketch.Quantile(0.05), sketch.Quantile(0.25), sketch.Quantile(0.5), sketch.Quantile(0.75), sketch.Quantile(0.95), sketch.Serialize());
    }

    private static double Normal(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
