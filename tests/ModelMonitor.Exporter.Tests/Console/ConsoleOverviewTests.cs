using System.Net;
using System.Text.RegularExpressions;
using Dapper;
using ModelMonitor.Testing.Postgres;
using ModelMonitor.WebConsole.Overview;

namespace ModelMonitor.Exporter.Tests.Console;

/// <summary>The console's overview page (issue 19, first page): rendering and escaping, and the page from Postgres through
/// the exporter host.</summary>
public sealed partial class ConsoleOverviewTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 7, 12, 30, 0, TimeSpan.Zero);

    [Fact]
    public void Names_are_escaped_and_a_problem_is_said_in_words_and_an_icon_not_colour_alone()
    {
        var hostile = "<script>alert('x')</script>";
        var html = OverviewPage.Render(
        [
            new OverviewModel(hostile, "m\"1", "primary", 1_234, [1, 5, 3], Now.AddSeconds(-42), 2, [hostile, "weather"]),
            new OverviewModel("eta", "v2", "shadow", 0, [0, 0, 0], Now.AddHours(-3), 0, []),
        ], Now, TimeSpan.FromHours(3));

        Assert.DoesNotContain("<script>", html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;", html, StringComparison.Ordinal);
        Assert.Contains("m&quot;1", html, StringComparison.Ordinal);
        Assert.Contains("⚠ 2: &lt;script&gt;", html, StringComparison.Ordinal);
        Assert.Contains("✓ none", html, StringComparison.Ordinal);
        Assert.Contains("1,234", html, StringComparison.Ordinal);
        Assert.Contains("42 s ago", html, StringComparison.Ordinal);
        Assert.Contains("3 h ago", html, StringComparison.Ordinal);
        Assert.Contains("<caption>2 predictors, 2 models", html, StringComparison.Ordinal);
        Assert.Contains("<th scope=\"col\">Model</th>", html, StringComparison.Ordinal);

        var many = OverviewPage.Render([new OverviewModel("p", "m", "candidate", 1, [1], Now, 5, ["a", "b", "c", "d", "e"])], Now, TimeSpan.FromHours(1));
        Assert.Contains("title=\"a, b, c, d, e\">⚠ 5: a, b, c and 2 more</span>", many, StringComparison.Ordinal);
    }

    [Fact]
    public void A_sparkline_has_one_point_per_value_scaled_to_the_largest()
    {
        var svg = Sparkline.Svg([0, 10, 5, 10], "a <b>");
        var points = PointsAttribute().Match(svg).Groups[1].Value.Split(' ');
        Assert.Equal(["0,27", "53.3,1", "106.7,14", "160,1"], points);
        Assert.Contains("aria-label=\"a &lt;b&gt;\"", svg, StringComparison.Ordinal);
        Assert.Equal(3, PointsAttribute().Match(Sparkline.Svg([0, 0, 0], "")).Groups[1].Value.Split(' ').Length);
    }

    [Fact]
    public async Task The_overview_lists_the_models_from_Postgres_with_roles_traffic_and_problem_features()
    {
        await using var database = await PostgresDatabaseFixture.CreateMigratedAsync("console");
        var now = DateTimeOffset.UtcNow;
        var window = new DateTimeOffset(now.UtcTicks - now.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero).AddMinutes(-1); // the latest complete window at the host's (stopped) clock
        await using (var connection = await database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("""
                INSERT INTO models (predictor_name, model_id, first_seen, last_seen) VALUES
                    ('eta', 'v1', @old, @window), ('eta', 'v2', @old, @window), ('<b>bold</b>', 'x', @old, @window), ('gone', 'g', @old, @old);
                INSERT INTO retired_models (predictor_name, model_id, retired_at) VALUES ('gone', '', @window);
                INSERT INTO predictors (predictor_name, primary_model_id, shadow_model_ids, source) VALUES ('eta', 'v1', '{v2}', 'api');
                INSERT INTO model_window_stats (window_seconds, window_start, predictor_name, model_id, prediction_count, nonfinite_count, numeric_count) VALUES
                    (60, @window, 'eta', 'v1', 40, 0, 0), (60, @window, 'eta', 'v2', 40, 0, 0), (60, @window, '<b>bold</b>', 'x', 7, 0, 0),
                    (3600, @hour, 'eta', 'v1', 40, 0, 0);
                INSERT INTO feature_window_stats (window_seconds, window_start, predictor_name, model_id, feature, value_count, null_count,
                    default_count, nonfinite_count, numeric_count, categorical_count, boolean_count) VALUES
                    (60, @window, 'eta', 'v1', 'distance', 40, 0, 0, 0, 40, 0, 0),
                    (60, @window, 'eta', 'v1', 'weather', 40, 0, 30, 0, 40, 0, 0),
                    (60, @window, 'eta', 'v2', 'distance', 10, 0, 0, 0, 10, 0, 0),
                    (60, @window, '<b>bold</b>', 'x', '<script>x</script>', 7, 0, 0, 1, 7, 0, 0);
                -- Drift: v1's traffic drifts in its latest drift window (60 s); an older window's drift of distance does not count.
                INSERT INTO drift_windows (window_seconds, window_start, prediction_count) VALUES (60, @earlier, 80), (60, @window, 80);
                INSERT INTO feature_drift (window_seconds, window_start, predictor_name, model_id, feature, reference, drifting, schema_anomaly) VALUES
                    (60, @window, 'eta', 'v1', 'traffic', 'training', true, NULL),
                    (60, @window, 'eta', 'v1', 'distance', 'training', false, NULL),
                    (60, @earlier, 'eta', 'v1', 'distance', 'training', true, NULL),
                    (60, @window, 'eta', 'v2', 'tenure', 'training', false, 'missing_feature');
                """, new
            {
                old = now.AddHours(-3).UtcDateTime,
                window = window.UtcDateTime,
                earlier = window.AddMinutes(-1).UtcDateTime,
                hour = new DateTime(now.Year, now.Month, now.Day, now.Hour, 0, 0, DateTimeKind.Utc),
            });
        }
        await using var factory = ExporterHost.On(database.ConnectionString, new FixedTime(now));
        using var client = factory.CreateClient();
        await ExporterHost.ReadyAsync(client); // the problem features come from the exporter's refresh

        using var response = await client.GetAsync("/");
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<caption>2 predictors, 3 models", html, StringComparison.Ordinal); // 'gone' was retired since
        Assert.Contains("data-model=\"eta/v1\"><td>eta</td><td><a href=\"/model?predictor=eta&amp;model=v1\">v1</a></td><td>primary</td><td class=\"number\">40</td>", html, StringComparison.Ordinal);
        Assert.Contains("<td>shadow</td>", html, StringComparison.Ordinal);
        Assert.Contains("⚠ 2: traffic, weather", html, StringComparison.Ordinal); // drifting; 30 of 40 defaulted
        Assert.Contains("⚠ 2: distance, tenure", html, StringComparison.Ordinal); // v2: 30 of 40 missing; a schema anomaly
        Assert.Contains("&lt;script&gt;x&lt;/script&gt;", html, StringComparison.Ordinal); // non-finite, and escaped
        Assert.DoesNotContain("<script>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<b>", html, StringComparison.Ordinal);
        Assert.Equal(3, SparklineCount().Count(html));
    }

    [GeneratedRegex("points=\"([^\"]*)\"")]
    private static partial Regex PointsAttribute();

    [GeneratedRegex("<svg class=\"spark\"")]
    private static partial Regex SparklineCount();
}
