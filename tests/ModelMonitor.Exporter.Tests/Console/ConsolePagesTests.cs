using System.Net;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.AspNetCore.Mvc.Testing;
using ModelMonitor.Testing.Postgres;

namespace ModelMonitor.Exporter.Tests.Console;

/// <summary>
/// The console's model and feature pages (issue 19) through the exporter host, on Postgres data whose every number the test
/// chose: the charts' points, the feature table and its sorts, evaluation, shadow comparison, reference vs current, the SQL
/// shown under a chart (run here, it returns the chart's rows), escaping, bad requests, the token's sign-in, and a fuzz of
/// the query string. One database for the whole class.
/// </summary>
public sealed partial class ConsolePagesTests(ConsolePagesTests.Data data) : IClassFixture<ConsolePagesTests.Data>
{
    public const string Hostile = "<script>alert(1)</script>";

    /// <summary>90 one-minute windows ending at the last complete minute, the 46th missing (a gap in every chart).</summary>
    public sealed class Data : IAsyncLifetime
    {
        public PostgresDatabaseFixture Database { get; private set; } = null!;
        public DateTimeOffset LastWindow { get; private set; }

        /// <summary>The hosts' clock: the data is written relative to it.</summary>
        public DateTimeOffset Now { get; private set; }
        public int Windows { get; } = 89;

        public async Task InitializeAsync()
        {
            Database = await PostgresDatabaseFixture.CreateMigratedAsync("console_pages");
            var now = Now = DateTimeOffset.UtcNow;
            LastWindow = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerMinute), TimeSpan.Zero).AddMinutes(-1);
            await using var connection = await Database.DataSource.OpenConnectionAsync();
            await connection.ExecuteAsync($$"""
                INSERT INTO models (predictor_name, model_id, first_seen, last_seen) VALUES
                    ('eta', 'v1', @first, @last), ('eta', 'v2', @first, @last);
                INSERT INTO predictors (predictor_name, primary_model_id, shadow_model_ids, source) VALUES ('eta', 'v1', '{v2}', 'api');
                CREATE TEMP TABLE w AS
                    SELECT i, @last - make_interval(mins => 89 - i) AS start FROM generate_series(0, 89) AS i WHERE i <> 45;
                INSERT INTO model_window_stats (window_seconds, window_start, predictor_name, model_id, prediction_count, nonfinite_count,
                    numeric_count, mean, p05, p25, p50, p75, p95)
                    SELECT 60, start, 'eta', m, 10 + i, 0, 10 + i, i, i - 2, i - 1, i, i + 1, i + 2 FROM w, (VALUES ('v1'), ('v2')) AS models (m);
                INSERT INTO feature_window_stats (window_seconds, window_start, predictor_name, model_id, feature, value_count, null_count,
                    default_count, nonfinite_count, numeric_count, categorical_count, boolean_count, mean, stddev, p05, p25, p50, p75, p95, categories)
                    SELECT 60, start, 'eta', 'v1', 'distance', 10 + i, 0, 0, 0, 10 + i, 0, 0, 5, 1, 3, 4, 5, 6, 7, '{}'::jsonb FROM w
                    UNION ALL
                    SELECT 60, start, 'eta', 'v1', 'weather', 10 + i, 0, 9 + i, 0, 0, 10 + i, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                           jsonb_build_object('sun', 7 + i, 'rain', 3) FROM w
                    UNION ALL
                    SELECT 60, start, 'eta', 'v1', '{{Hostile}}', 5, 0, 0, 1, 4, 0, 0, 1, 0, 1, 1, 1, 1, 1, '{}'::jsonb FROM w;
                INSERT INTO evaluation_window_stats (window_seconds, window_start, predictor_name, model_id, task, prediction_count,
                    labelled_count, label_coverage, mae, rmse, state)
                    SELECT 60, start, 'eta', 'v1', 'regression', 10, 5, 0.5, 1.5, 2, '\x00' FROM w;
                INSERT INTO shadow_window_stats (window_seconds, window_start, predictor_name, model_a, model_b, pairs, diff_mean,
                    abs_diff_mean, abs_diff_p95, state)
                    SELECT 60, start, 'eta', 'v1', 'v2', 10, 0.5, 0.75, 1.25, '\x00' FROM w;
                WITH r AS (INSERT INTO reference_profiles (predictor_name, model_id, name, kind, source, row_count)
                           VALUES ('eta', 'v1', 'training', 'uploaded', 'text/csv', 1000) RETURNING id)
                INSERT INTO reference_features (reference_id, subject, feature, observed_type, value_count, null_count, default_count,
                    nonfinite_count, numeric_count, categorical_count, boolean_count, p05, p25, p50, p75, p95, categories)
                    SELECT id, 'feature', 'distance', 'numeric', 1000, 0, 0, 0, 1000, 0, 0, 10, 11, 12, 13, 14, '{}'::jsonb FROM r
                    UNION ALL
                    SELECT id, 'feature', 'weather', 'categorical', 1000, 0, 0, 0, 0, 1000, 0, NULL, NULL, NULL, NULL, NULL, '{"sun": 500, "rain": 500}' FROM r;
                INSERT INTO drift_windows (window_seconds, window_start, prediction_count) SELECT 60, start, 10 FROM w;
                INSERT INTO feature_drift (window_seconds, window_start, predictor_name, model_id, feature, reference, psi, alert_method,
                    alert_threshold, drifting)
                    SELECT 60, start, 'eta', 'v1', 'distance', 'training', 0.01 * i, 'psi', 0.2, 0.01 * i > 0.2 FROM w
                    UNION ALL
                    SELECT 60, start, 'eta', 'v1', 'weather', 'training', 0.001, 'psi', 0.2, false FROM w;
                """, new { first = now.AddHours(-3).UtcDateTime, last = LastWindow.UtcDateTime });
        }

        public async Task DisposeAsync() => await Database.DisposeAsync();
    }

    /// <summary>The exporter on the class's data, on the data's clock.</summary>
    private WebApplicationFactory<Program> Host(params (string Key, string Value)[] settings) =>
        ExporterHost.On(data.Database.ConnectionString, new FixedTime(data.Now), [.. ConsoleServer.Settings, .. settings]);

    [Fact]
    public async Task The_model_page_charts_every_window_and_lists_every_feature_sorted_by_drift()
    {
        await using var factory = Host();
        using var client = factory.CreateClient();
        await ExporterHost.ReadyAsync(client);
        using var response = await client.GetAsync("/model?predictor=eta&model=v1&range=6h&window=60");
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("default-src 'none'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Contains("<h1>eta / v1</h1>", html, StringComparison.Ordinal);
        Assert.Contains("<dt>Role</dt><dd>primary</dd>", html, StringComparison.Ordinal);
        // Result quantiles: 89 windows, the missing one breaking the P50 line in two (45 + 44 points).
        Assert.Equal(data.Windows, ChartPoints(html, "result"));
        Assert.Equal([45, 44], SeriesPoints(html, "result", "P50"));
        Assert.Equal(data.Windows, ChartPoints(html, "traffic"));
        Assert.Equal(data.Windows, ChartPoints(html, "evaluation"));
        Assert.Equal(data.Windows, ChartPoints(html, "coverage"));
        // Shadow comparison: this model − the other: stored as v2 − v1 = 0.5, shown as −0.5.
        Assert.Contains("v1 − v2 (890 pairs)", html, StringComparison.Ordinal);
        Assert.Contains("mean difference from -0.5 to -0.5", html, StringComparison.Ordinal);
        // Features: drifting distance first (psi 0.89 > 0.2 in the last window), then the others; every name escaped.
        Assert.Equal(["distance", "weather", "&lt;script&gt;alert(1)&lt;/script&gt;"], FeatureRows(html));
        Assert.Contains("⚠ drifting: psi 0.89 (threshold 0.2)", html, StringComparison.Ordinal);
        Assert.Contains("3 features, <span class=\"problem\">⚠ 3 with a problem</span>", html, StringComparison.Ordinal);
        Assert.DoesNotContain(Hostile, html, StringComparison.Ordinal);
        Assert.Contains("aria-sort=\"descending\"><a href=\"/model?predictor=eta&amp;model=v1&amp;range=6h&amp;window=60&amp;sort=drift\"", html, StringComparison.Ordinal);
        // A sparkline per feature over the range (of the smallest size that gives at most 48 points; here the only size stored).
        Assert.Equal(3, SparklineCount().Count(html));

        var byDefault = await client.GetStringAsync("/model?predictor=eta&model=v1&range=6h&sort=default");
        Assert.Equal("weather", FeatureRows(byDefault)[0]); // 98 of 99 defaulted
        var byName = await client.GetStringAsync("/model?predictor=eta&model=v1&sort=name");
        Assert.Equal(["&lt;script&gt;alert(1)&lt;/script&gt;", "distance", "weather"], FeatureRows(byName));
    }

    [Fact]
    public async Task The_feature_page_shows_quantiles_ratios_categories_and_the_reference_and_its_SQL_reproduces_the_chart()
    {
        await using var factory = Host();
        using var client = factory.CreateClient();
        await ExporterHost.ReadyAsync(client);
        var html = await client.GetStringAsync("/feature?predictor=eta&model=v1&feature=distance&range=6h&window=60");

        Assert.Equal(data.Windows, ChartPoints(html, "quantiles"));
        Assert.Equal([45, 44], SeriesPoints(html, "quantiles", "P50"));
        Assert.Equal(data.Windows, ChartPoints(html, "mean"));
        Assert.Equal(data.Windows, ChartPoints(html, "ratios"));
        Assert.Contains("<dt>Mean ± stddev</dt><dd>5 ± 1</dd>", html, StringComparison.Ordinal);
        // Reference vs current: the training reference's box and the latest window's.
        Assert.Contains("id=\"reference-boxes\"", html, StringComparison.Ordinal);
        Assert.Matches("data-rows=\"2\".*<th scope=\"row\">training \\(uploaded\\)</th><td class=\"number\">10</td><td class=\"number\">11</td><td class=\"number\">12</td>", html);
        Assert.Equal(data.Windows, ChartPoints(html, "drift-0"));
        Assert.Contains("psi ⚠ drifting in the latest window", html, StringComparison.Ordinal);

        // The SQL under the charts, as shown, returns the charts' rows.
        var sql = WebUtility.HtmlDecode(SqlBlock().Match(html).Groups[1].Value);
        Assert.Contains("feature = 'distance'", sql, StringComparison.Ordinal);
        await using (var connection = await data.Database.DataSource.OpenConnectionAsync())
        {
            Assert.Equal(data.Windows, (await connection.QueryAsync(sql)).Count());
        }

        var weather = await client.GetStringAsync("/feature?predictor=eta&model=v1&feature=weather&range=6h&window=60");
        Assert.Equal(data.Windows, ChartPoints(weather, "mix"));
        Assert.Contains("id=\"reference-categories\"", weather, StringComparison.Ordinal);
        Assert.Contains("<tr><th scope=\"row\">sun</th><td class=\"number\">50%</td>", weather, StringComparison.Ordinal); // the reference's half
        Assert.Contains("<span class=\"problem\">⚠ 99%</span>", weather, StringComparison.Ordinal); // defaulted in the latest window: 98/99

        var hostile = await client.GetStringAsync("/feature?predictor=eta&model=v1&feature=" + Uri.EscapeDataString(Hostile));
        Assert.DoesNotContain(Hostile, hostile, StringComparison.Ordinal);
        Assert.Contains("<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>", hostile, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_requests_name_the_parameter_and_an_unknown_model_is_404_and_a_missing_window_size_is_replaced()
    {
        await using var factory = Host();
        using var client = factory.CreateClient();
        await ExporterHost.ReadyAsync(client);
        foreach (var (url, status, says) in new[]
        {
            ("/model?predictor=eta", HttpStatusCode.BadRequest, "model: required"),
            ("/model?predictor=eta&model=v1&range=2y", HttpStatusCode.BadRequest, "range: &#x27;2y&#x27; is not one of 1h, 6h, 24h, 7d, 30d."),
            ("/model?predictor=eta&model=v1&window=-5", HttpStatusCode.BadRequest, "window: &#x27;-5&#x27; is not a window size in seconds"),
            ("/model?predictor=eta&model=v1&to=yesterday", HttpStatusCode.BadRequest, "to: &#x27;yesterday&#x27; is not an ISO 8601 instant"),
            ("/model?predictor=eta&model=v1&sort=evil", HttpStatusCode.BadRequest, "sort: &#x27;evil&#x27; is not one of drift, missing, default, nan, name."),
            ("/feature?predictor=eta&model=v1", HttpStatusCode.BadRequest, "feature: required"),
            ("/model?predictor=eta&model=nope", HttpStatusCode.NotFound, "No model &#x27;nope&#x27; of predictor &#x27;eta&#x27; has been seen."),
            ("/model?predictor=eta&model=v1&window=300", HttpStatusCode.OK, "Showing the last 8 h 20 min only"),
        })
        {
            using var response = await client.GetAsync(url);
            var html = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == status, $"{url}: {(int)response.StatusCode}");
            Assert.Contains(says, html, StringComparison.Ordinal);
        }
        // A shared link to a past range stays on it: ending before the data, nothing.
        var past = await client.GetStringAsync($"/model?predictor=eta&model=v1&range=1h&to={data.LastWindow.AddHours(-3):yyyy-MM-ddTHH:mm:ssZ}");
        Assert.Equal(0, ChartPoints(past, "result"));
        Assert.Contains("No data in this range", past, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_the_metrics_token_a_browser_signs_in_once_and_its_cookie_opens_the_console_but_not_the_metrics()
    {
        await using var factory = Host(("Metrics:RequireToken", "true"), ("Metrics:Token", "console-test-token"));
        using var client = factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        using (var probe = factory.CreateClient())
        {
            probe.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "console-test-token");
            await ExporterHost.ReadyAsync(probe);
        }

        using (var page = new HttpRequestMessage(HttpMethod.Get, "/model?predictor=eta&model=v1"))
        {
            page.Headers.Accept.ParseAdd("text/html");
            using var redirected = await client.SendAsync(page);
            Assert.Equal(HttpStatusCode.Redirect, redirected.StatusCode);
            Assert.Equal("/login?return=%2Fmodel%3Fpredictor%3Deta%26model%3Dv1", redirected.Headers.Location?.OriginalString);
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/model?predictor=eta&model=v1")).StatusCode); // not a browser: 401
        Assert.Contains("type=\"password\"", await client.GetStringAsync("/login?return=%2F"), StringComparison.Ordinal);

        using (var wrong = await client.PostAsync("/login", new FormUrlEncodedContent([new("token", "guess"), new("return", "/")])))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
            Assert.Contains("That is not the token", await wrong.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using (var evil = await client.PostAsync("/login", new FormUrlEncodedContent([new("token", "console-test-token"), new("return", "//evil.example/")])))
        {
            Assert.Equal("/", evil.Headers.Location?.OriginalString); // never off-site
        }
        using (var signedIn = await client.PostAsync("/login", new FormUrlEncodedContent([new("token", "console-test-token"), new("return", "/model?predictor=eta&model=v1")])))
        {
            Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
            Assert.Equal("/model?predictor=eta&model=v1", signedIn.Headers.Location?.OriginalString);
            var cookie = signedIn.Headers.GetValues("Set-Cookie").Single();
            Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("console-test-token", cookie, StringComparison.Ordinal);
        }
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/model?predictor=eta&model=v1")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/metrics")).StatusCode); // the cookie is the console's only
    }

    [Fact]
    public async Task Any_query_string_gets_a_page_or_a_4xx_never_an_error_and_never_unescaped_text()
    {
        await using var factory = Host();
        using var client = factory.CreateClient();
        await ExporterHost.ReadyAsync(client);
        var random = new Random(19);
        string[] pieces = ["eta", "v1", "v2", "distance", "weather", Hostile, "", "'; DROP TABLE models; --", "%", "\"><img src=x>", "1h", "6h", "24h", "7d", "30d",
            "60", "3600", "0", "-1", "99999999999", "2026-12-07T00:00:00Z", "9999-12-31T23:59:59Z", "drift", "name", "\u0000", "é/ü", new string('x', 2000)];
        string[] keys = ["predictor", "model", "feature", "range", "window", "to", "sort"];
        for (var i = 0; i < 150; i++)
        {
            var path = random.Next(3) switch { 0 => "/model", 1 => "/feature", _ => "/" };
            var query = string.Join('&', keys.Where(_ => random.Next(3) > 0).Select(k => $"{k}={Uri.EscapeDataString(pieces[random.Next(pieces.Length)])}"));
            using var response = await client.GetAsync($"{path}?{query}");
            var html = await response.Content.ReadAsStringAsync();
            Assert.True((int)response.StatusCode < 500, $"{path}?{query}: {(int)response.StatusCode}\n{html[..Math.Min(html.Length, 2000)]}");
            Assert.DoesNotContain("<script>", html, StringComparison.Ordinal);
            Assert.DoesNotContain("<img src=x>", html, StringComparison.Ordinal);
        }
        await using var connection = await data.Database.DataSource.OpenConnectionAsync();
        Assert.Equal(2, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM models"));
    }

    private static int ChartPoints(string html, string id) =>
        int.Parse(Regex.Match(html, $"<figure class=\"chart\" id=\"{id}\"><svg [^>]*data-points=\"(\\d+)\"").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

    private static int[] SeriesPoints(string html, string id, string series)
    {
        var figure = Regex.Match(html, $"<figure class=\"chart\" id=\"{id}\">.*?</figure>").Value;
        return [.. Regex.Matches(figure, $"data-series=\"{Regex.Escape(series)}\"[^>]* points=\"([^\"]*)\"").Select(m => m.Groups[1].Value.Split(' ').Length)];
    }

    private static string[] FeatureRows(string html) => [.. FeatureRow().Matches(html).Select(m => m.Groups[1].Value)];

    [GeneratedRegex("<tr data-feature=\"([^\"]*)\">")]
    private static partial Regex FeatureRow();

    [GeneratedRegex("<svg class=\"spark\"")]
    private static partial Regex SparklineCount();

    [GeneratedRegex("<details class=\"sql\"><summary>SQL</summary><pre><code>(.*?)</code></pre></details>", RegexOptions.Singleline)]
    private static partial Regex SqlBlock();
}
