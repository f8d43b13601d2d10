using System.Text;
using ModelMonitor.Core.Predictors;
using ModelMonitor.Core.Shadows;
using ModelMonitor.Exporter.Predictors;
using ModelMonitor.Storage.Predictors;
using ModelMonitor.Storage.Shadows;
using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.Exporter.Tests;

/// <summary>
/// The predictor families as text (pure): roles registered and inferred, ages, the latest primary change, and the
/// comparison turned into shadow − primary whichever way the join stored the pair; nothing for a model not exported
/// (retired, or gone), nor for a pair of which neither model is the primary.
/// </summary>
public sealed class PredictorRenderingTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    private static ModelRow Model(string predictor, string model, double servingHours) =>
        new() { PredictorName = predictor, ModelId = model, FirstSeen = Now.AddHours(-servingHours).UtcDateTime, LastSeen = Now.UtcDateTime };

    private static ShadowSummary Summary(params (double A, double B)[] pairs)
    {
        var accumulator = new ShadowAccumulator();
        foreach (var (a, b) in pairs)
        {
            accumulator.Add(a, b, threshold: 0.5);
        }
        return accumulator.Summarize();
    }

    private static string Render(PredictorInput input, ShadowOptions? options = null) =>
        Encoding.UTF8.GetString(PredictorRenderer.Render(input, options ?? new ShadowOptions(), Now).Text.Span);

    private static string[] Samples(string text, string family) =>
        [.. text.Split('\n').Where(l => l.StartsWith(family + "{", StringComparison.Ordinal))];

    [Fact]
    public void Roles_ages_changes_and_the_comparison_as_shadow_minus_primary()
    {
        var registered = new StoredPredictor("eta", new PredictorRegistration("v2", ["v1"], "logistics", new Dictionary<string, string>(), TimeSpan.FromDays(30), null), "api", Now);
        var trained = new StoredModel("eta", "v2", new ModelRegistration(Now.AddDays(-40), null, "{}", null), "api", Now);
        // The join keeps (a, b) = (v1, v2) with d = v2 − v1: the primary is v2, so the shadow's diff is v1 − v2 = −d.
        var pair = new ShadowWindowRow(300, Now.AddMinutes(-10), "eta", "v1", "v2", Summary((0.2, 0.6), (0.8, 0.9), (0.1, 0.4)));
        // fraud is unregistered: f1 is its inferred primary; (f2, f3) involves no primary: not published.
        var fraudPair = new ShadowWindowRow(300, Now.AddMinutes(-10), "fraud", "f1", "f2", Summary((1, 2)));
        var others = new ShadowWindowRow(300, Now.AddMinutes(-10), "fraud", "f2", "f3", Summary((1, 5)));
        var input = new PredictorInput(
            [Model("eta", "v1", 2), Model("eta", "v2", 48), Model("fraud", "f1", 1), Model("fraud", "f2", 1), Model("fraud", "f3", 1)],
            [registered], [trained],
            [new RecordedPrimary("fraud", "f1", "inferred", Now), new RecordedPrimary("eta", "v2", "registered", Now)],
            [new PrimaryChange("eta", Now.AddMinutes(-5), "v2", "v1", "registered"), new PrimaryChange("gone", Now, "x", "y", "inferred")],
            [(pair, 4, 3), (fraudPair, 10, 20), (others, 1, 1)]);
        var text = Render(input, new ShadowOptions { Predictors = { ["eta"] = new ShadowPredictorOptions { DivergenceThreshold = 0.8 } } });

        Assert.Equal(
        [
            "modelmonitor_model_info{predictor_name=\"eta\",model_id=\"v1\",role=\"shadow\"} 1",
            "modelmonitor_model_info{predictor_name=\"eta\",model_id=\"v2\",role=\"primary\"} 1",
            "modelmonitor_model_info{predictor_name=\"fraud\",model_id=\"f1\",role=\"inferred_primary\"} 1",
            "modelmonitor_model_info{predictor_name=\"fraud\",model_id=\"f2\",role=\"candidate\"} 1",
            "modelmonitor_model_info{predictor_name=\"fraud\",model_id=\"f3\",role=\"candidate\"} 1",
        ], Samples(text, "modelmonitor_model_info"));
        Assert.Equal(["modelmonitor_model_age_seconds{predictor_name=\"eta\",model_id=\"v2\"} 3456000"], Samples(text, "modelmonitor_model_age_seconds"));
        Assert.Equal(2, Samples(text, "modelmonitor_model_max_age_seconds").Length); // both models of eta
        Assert.Contains("modelmonitor_model_serving_age_seconds{predictor_name=\"eta\",model_id=\"v2\"} 172800", Samples(text, "modelmonitor_model_serving_age_seconds"));
        Assert.Equal([$"modelmonitor_predictor_primary_changed_timestamp_seconds{{predictor_name=\"eta\",model_id=\"v2\",previous_model_id=\"v1\",source=\"registered\"}} {Now.AddMinutes(-5).ToUnixTimeSeconds()}"],
            Samples(text, "modelmonitor_predictor_primary_changed_timestamp_seconds")); // not for a predictor no longer exported

        const string Eta = "predictor_name=\"eta\",model_id=\"v1\",primary_model_id=\"v2\",window=\"5m\"";
        Assert.Contains($"modelmonitor_shadow_pairs{{{Eta}}} 3", Samples(text, "modelmonitor_shadow_pairs"));
        var diff = double.Parse(Samples(text, "modelmonitor_shadow_diff_mean").Single(l => l.Contains(Eta, StringComparison.Ordinal)).Split(' ')[1],
            System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(-((0.4 + 0.1 + 0.3) / 3), diff, 1e-12); // v1 − v2
        Assert.Contains($"modelmonitor_shadow_match_ratio{{{Eta}}} 0.75", Samples(text, "modelmonitor_shadow_match_ratio")); // 3 pairs / v1's 4
        Assert.Contains($"modelmonitor_shadow_primary_match_ratio{{{Eta}}} 1", Samples(text, "modelmonitor_shadow_primary_match_ratio")); // / v2's 3
        Assert.Contains($"modelmonitor_shadow_agreement_ratio{{{Eta}}} 0.6666666666666666", Samples(text, "modelmonitor_shadow_agreement_ratio"));
        Assert.Equal(4, Samples(text, "modelmonitor_shadow_abs_diff_quantile").Count(l => l.Contains(Eta, StringComparison.Ordinal)));
        // fraud: f2 against its inferred primary f1, with d = f2 − f1 as stored; no series for (f2, f3).
        Assert.Contains("modelmonitor_shadow_diff_mean{predictor_name=\"fraud\",model_id=\"f2\",primary_model_id=\"f1\",window=\"5m\"} 1", Samples(text, "modelmonitor_shadow_diff_mean"));
        Assert.DoesNotContain(Samples(text, "modelmonitor_shadow_pairs"), l => l.Contains("model_id=\"f3\"", StringComparison.Ordinal));
        Assert.Equal(
        [
            "modelmonitor_predictor_shadow_divergence_threshold{predictor_name=\"eta\"} 0.8",
            "modelmonitor_predictor_shadow_divergence_threshold{predictor_name=\"fraud\"} 0.5",
        ], Samples(text, "modelmonitor_predictor_shadow_divergence_threshold"));
    }

    [Fact]
    public void A_model_not_exported_gets_no_series_and_its_pairs_are_left_out()
    {
        var pair = new ShadowWindowRow(60, Now.AddMinutes(-2), "eta", "v1", "v2", Summary((1, 2)));
        var text = Render(new PredictorInput([Model("eta", "v1", 1)], [], [], [new RecordedPrimary("eta", "v1", "inferred", Now)], [], [(pair, 1, 1)]));
        Assert.Equal(["modelmonitor_model_info{predictor_name=\"eta\",model_id=\"v1\",role=\"inferred_primary\"} 1"], Samples(text, "modelmonitor_model_info"));
        Assert.Empty(Samples(text, "modelmonitor_shadow_pairs"));
        Assert.Empty(Samples(text, "modelmonitor_model_age_seconds"));
    }
}
