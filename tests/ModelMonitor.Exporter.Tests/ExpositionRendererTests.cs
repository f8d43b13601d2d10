using System.Text;
using ModelMonitor.Storage.Statistics;
using static ModelMonitor.Exporter.Tests.Snapshots;

namespace ModelMonitor.Exporter.Tests;

public sealed class ExpositionRendererTests
{
    private static readonly ExporterOptions Defaults = new();

    private static string Render(StatisticsSnapshot snapshot, ExporterOptions? options = null) =>
        Encoding.UTF8.GetString(ExpositionRenderer.Render(snapshot, options ?? Defaults).Bytes.Span);

    [Fact]
    public void Renders_the_exact_text_with_escaped_label_values()
    {
        // A feature name with a quote, a backslash and a newline: each must be escaped in the label value.
        var name = "dist \"km\"\\raw\nv2";
        var snapshot = new StatisticsSnapshot(
            [Model("eta", "eta-v1")],
            [Window(300, [ModelWindow("eta", "eta-v1", 4)],
                [Feature("eta", "eta-v1", name, 3, defaults: 1),
                 Feature("eta", "eta-v1", "market", 4, numeric: false, categories: "{\"sf\": 3, \"nyc\": 1}", categorical: 4)])]);

        var expected = """
            # HELP modelmonitor_feature_count Records of the window carrying a value (numeric, non-finite or categorical) for the feature.
            # TYPE modelmonitor_feature_count gauge
            modelmonitor_feature_count{predictor_name="eta",model_id="eta-v1",feature="dist \"km\"\\raw\nv2",window="5m"} 3
            modelmonitor_feature_count{predictor_name="eta",model_id="eta-v1",feature="market",window="5m"} 4
            # HELP modelmonitor_feature_mean Mean of the feature's finite numeric values in the window.
            # TYPE modelmonitor_feature_mean gauge
            modelmonitor_feature_mean{predictor_name="eta",model_id="eta-v1",feature="dist \"km\"\\raw\nv2",window="5m"} 3.5
            # HELP modelmonitor_feature_stddev Sample standard deviation of the feature's finite numeric values in the window.
            # TYPE modelmonitor_feature_stddev gauge
            modelmonitor_feature_stddev{predictor_name="eta",model_id="eta-v1",feature="dist \"km\"\\raw\nv2",window="5m"} 0.5
            # HELP modelmonitor_feature_min Minimum of the feature's finite numeric values in the window.
            # TYPE modelmonitor_feature_min gauge
            modelmonitor_feature_min{predictor_name="eta",model_id="eta-v1",feature="dist \"km\"\\raw\nv2",window="5m"} 1
            # HELP modelmonitor_feature_max Maximum of the feature's finite numeric values in the window.
            # TYPE modelmonitor_feature_max gauge
            modelmonitor_feature_max{predictor_name="eta",model_id="eta-v1",feature="dist \"km\"\\raw\nv2",window="5m"} 6
            # HELP modelmonitor_feature_quantile Approximate quantile (DDSketch, 1% relative accuracy) of the feature's finite numeric values in the window.
            # TYPE modelmonitor_feature_quantile gauge
            modelmonitor_feature_quantile{predictor_name="eta",model_id="eta-v1",feature="dist \"km\"\\raw\nv2",window="5m",quantile="0.05"} 1.5
            modelmonitor_feature_quantile{predictor_name="eta",model_id="eta-v1",feature="dist \"km\"\\raw\nv2",window="5m",quantile="0.25"} 3
            modelmonitor_feature_quantile{predictor_name="eta",model_id="eta-v1",feature="dist \"km\"\\raw\nv2",window="5m",quantile="0.5"} 3.5
            modelmonitor_feature_quantile{predictor_name="eta",model_id="eta-v1",feature="dist \"km\"\\raw\nv2",window="5m",quantile="0.75"} 4
            modelmonitor_feature_quantile{predictor_name="eta",model_id="eta-v1",feature="dist \"km\"\\raw\nv2",window="5m",quantile="0.95"} 5.5
            # HELP modelmonitor_feature_default_ratio Share of the model's predictions in the window that used the feature's default value.
            # TYPE modelmonitor_feature_default_ratio gauge
            modelmonitor_feature_default_ratio{predictor_name="eta",model_id="eta-v1",feature="dist \"km\"\\raw\nv2",window="5m"} 0.25
            modelmonitor_feature_default_ratio{predictor_name="eta",model_id="eta-v1",feature="market",window="5m"} 0
            # HELP modelmonitor_feature_missing_ratio Share of the model's predictions in the window without a value for the feature (absent or null); 1 when the feature vanished.
            # TYPE modelmonitor_feature_missing_ratio gauge
            modelmonitor_feature_missing_ratio{predictor_name="eta",model_id="eta-v1",feature="dist \"km\"\\raw\nv2",window="5m"} 0.25
            modelmonitor_feature_missing_ratio{predictor_name="eta",model_id="eta-v1",feature="market",window="5m"} 0
            # HELP modelmonitor_feature_nonfinite_ratio Share of the model's predictions in the window with NaN or +/-Infinity for the feature.
            # TYPE modelmonitor_feature_nonfinite_ratio gauge
            modelmonitor_feature_nonfinite_ratio{predictor_name="eta",model_id="eta-v1",feature="dist \"km\"\\raw\nv2",window="5m"} 0
            modelmonitor_feature_nonfinite_ratio{predictor_name="eta",model_id="eta-v1",feature="market",window="5m"} 0
            # HELP modelmonitor_feature_type_mismatch_ratio Share of the feature's values in the window whose JSON type (number, string, boolean) is not the majority type of its values; absent without values.
            # TYPE modelmonitor_feature_type_mismatch_ratio gauge
            modelmonitor_feature_type_mismatch_ratio{predictor_name="eta",model_id="eta-v1",feature="dist \"km\"\\raw\nv2",window="5m"} 0
            modelmonitor_feature_type_mismatch_ratio{predictor_name="eta",model_id="eta-v1",feature="market",window="5m"} 0
            # HELP modelmonitor_feature_category_ratio Share of the feature's categorical values in the window equal to the category (top values, the rest as __other__).
            # TYPE modelmonitor_feature_category_ratio gauge
            modelmonitor_feature_category_ratio{predictor_name="eta",model_id="eta-v1",feature="market",window="5m",category="nyc"} 0.25
            modelmonitor_feature_category_ratio{predictor_name="eta",model_id="eta-v1",feature="market",window="5m",category="sf"} 0.75
            # HELP modelmonitor_prediction_count Predictions of the model in the window; 0 when the model sent none in the latest completed window.
            # TYPE modelmonitor_prediction_count gauge
            modelmonitor_prediction_count{predictor_name="eta",model_id="eta-v1",window="5m"} 4
            # HELP modelmonitor_prediction_mean Mean of the finite prediction results in the window.
            # TYPE modelmonitor_prediction_mean gauge
            modelmonitor_prediction_mean{predictor_name="eta",model_id="eta-v1",window="5m"} 10
            # HELP modelmonitor_prediction_stddev Sample standard deviation of the finite prediction results in the window.
            # TYPE modelmonitor_prediction_stddev gauge
            modelmonitor_prediction_stddev{predictor_name="eta",model_id="eta-v1",window="5m"} 2
            # HELP modelmonitor_prediction_min Minimum of the finite prediction results in the window.
            # TYPE modelmonitor_prediction_min gauge
            modelmonitor_prediction_min{predictor_name="eta",model_id="eta-v1",window="5m"} 1
            # HELP modelmonitor_prediction_max Maximum of the finite prediction results in the window.
            # TYPE modelmonitor_prediction_max gauge
            modelmonitor_prediction_max{predictor_name="eta",model_id="eta-v1",window="5m"} 20
            # HELP modelmonitor_prediction_quantile Approximate quantile (DDSketch, 1% relative accuracy) of the finite prediction results in the window.
            # TYPE modelmonitor_prediction_quantile gauge
            modelmonitor_prediction_quantile{predictor_name="eta",model_id="eta-v1",window="5m",quantile="0.05"} 5
            modelmonitor_prediction_quantile{predictor_name="eta",model_id="eta-v1",window="5m",quantile="0.25"} 8
            modelmonitor_prediction_quantile{predictor_name="eta",model_id="eta-v1",window="5m",quantile="0.5"} 10
            modelmonitor_prediction_quantile{predictor_name="eta",model_id="eta-v1",window="5m",quantile="0.75"} 12
            modelmonitor_prediction_quantile{predictor_name="eta",model_id="eta-v1",window="5m",quantile="0.95"} 16
            # HELP modelmonitor_window_end_timestamp_seconds End (Unix seconds, exclusive) of the window the model's and its features' gauges describe.
            # TYPE modelmonitor_window_end_timestamp_seconds gauge
            modelmonitor_window_end_timestamp_seconds{predictor_name="eta",model_id="eta-v1",window="5m"} 1700000400
            # HELP modelmonitor_model_first_seen_timestamp_seconds Event time (Unix seconds) of the model's first aggregated prediction.
            # TYPE modelmonitor_model_first_seen_timestamp_seconds gauge
            modelmonitor_model_first_seen_timestamp_seconds{predictor_name="eta",model_id="eta-v1"} 1600000000
            # HELP modelmonitor_model_last_seen_timestamp_seconds Event time (Unix seconds) of the model's latest aggregated prediction.
            # TYPE modelmonitor_model_last_seen_timestamp_seconds gauge
            modelmonitor_model_last_seen_timestamp_seconds{predictor_name="eta",model_id="eta-v1"} 1700000399

            """.Replace("\r\n", "\n", StringComparison.Ordinal);

        Assert.Equal(expected, Render(snapshot));
    }

    [Fact]
    public void A_model_without_predictions_in_the_latest_window_reports_zero_and_no_stale_statistics()
    {
        var snapshot = new StatisticsSnapshot([Model("fraud", "f-1")], [Window(300, [], [])]);

        var text = Render(snapshot);

        Assert.Contains("modelmonitor_prediction_count{predictor_name=\"fraud\",model_id=\"f-1\",window=\"5m\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("modelmonitor_window_end_timestamp_seconds{predictor_name=\"fraud\",model_id=\"f-1\",window=\"5m\"} 1700000400\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("modelmonitor_prediction_mean{", text, StringComparison.Ordinal);
        Assert.DoesNotContain("modelmonitor_prediction_quantile{", text, StringComparison.Ordinal);
        Assert.DoesNotContain("modelmonitor_feature_missing_ratio{", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_feature_reported_earlier_but_absent_from_the_latest_window_is_missing_entirely()
    {
        var snapshot = new StatisticsSnapshot([Model("eta", "eta-v1")],
            [Window(300, [ModelWindow("eta", "eta-v1", 50)], [Feature("eta", "eta-v1", "distance", 50)],
                earlier: [new ModelFeature("eta", "eta-v1", "distance"), new ModelFeature("eta", "eta-v1", "weather")])]);

        var text = Render(snapshot);

        Assert.Contains("modelmonitor_feature_missing_ratio{predictor_name=\"eta\",model_id=\"eta-v1\",feature=\"weather\",window=\"5m\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("modelmonitor_feature_count{predictor_name=\"eta\",model_id=\"eta-v1\",feature=\"weather\",window=\"5m\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("modelmonitor_feature_missing_ratio{predictor_name=\"eta\",model_id=\"eta-v1\",feature=\"distance\",window=\"5m\"} 0\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("modelmonitor_feature_mean{predictor_name=\"eta\",model_id=\"eta-v1\",feature=\"weather\"", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Caps_on_models_features_and_categories_drop_series_and_count_them()
    {
        var categories = "{\"a\": 5, \"b\": 4, \"c\": 3, \"d\": 2, \"__other__\": 1}";
        var snapshot = new StatisticsSnapshot(
            // Most recently seen first: m3 is the oldest and is dropped by MaxModels = 2.
            [Model("p", "m1"), Model("p", "m2"), Model("p", "m3")],
            [Window(3600,
                [ModelWindow("p", "m1", 10), ModelWindow("p", "m2", 10), ModelWindow("p", "m3", 10)],
                [Feature("p", "m1", "f1", 10), Feature("p", "m1", "f2", 10), Feature("p", "m1", "f3", 10),
                 Feature("p", "m2", "cat", 15, numeric: false, categories: categories, categorical: 15),
                 Feature("p", "m3", "f1", 10)])]);
        var options = new ExporterOptions { MaxModels = 2, MaxFeaturesPerModel = 2, MaxCategoriesPerFeature = 2 };

        var exposition = ExpositionRenderer.Render(snapshot, options);
        var text = Encoding.UTF8.GetString(exposition.Bytes.Span);

        Assert.DoesNotContain("model_id=\"m3\"", text, StringComparison.Ordinal);
        Assert.Contains("feature=\"f2\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("feature=\"f3\"", text, StringComparison.Ordinal);
        // Top two categories kept; c and d folded into __other__ with the existing 1: (3 + 2 + 1) / 15.
        Assert.Contains("category=\"a\"} 0.3333333333333333\n", text, StringComparison.Ordinal);
        Assert.Contains("category=\"__other__\"} 0.4\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("category=\"c\"", text, StringComparison.Ordinal);
        Assert.Equal(2 + 11 + 14, exposition.Dropped[DropReasons.Models]);
        Assert.Equal(14, exposition.Dropped[DropReasons.Features]);
        Assert.Equal(2, exposition.Dropped[DropReasons.Categories]);
        Assert.Equal(text.Split('\n').Count(l => l.Length > 0 && l[0] != '#'), exposition.Series);
    }

    [Fact]
    public void Latest_completed_window_waits_for_the_completion_delay()
    {
        var delay = TimeSpan.FromSeconds(15);
        // 10 s after 12:05 the 12:00-12:05 window is not yet final: the latest completed is 11:55.
        var now = DateTimeOffset.Parse("2026-01-01T12:05:10Z", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(DateTimeOffset.Parse("2026-01-01T11:55:00Z", System.Globalization.CultureInfo.InvariantCulture), StatisticsReader.LatestCompletedWindowStart(now, 300, delay));
        Assert.Equal(DateTimeOffset.Parse("2026-01-01T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture), StatisticsReader.LatestCompletedWindowStart(now.AddSeconds(5), 300, delay));
        Assert.Equal(DateTimeOffset.Parse("2026-01-01T11:00:00Z", System.Globalization.CultureInfo.InvariantCulture), StatisticsReader.LatestCompletedWindowStart(now, 3600, delay));
    }
}
