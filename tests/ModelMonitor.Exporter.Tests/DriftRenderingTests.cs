using System.Globalization;
using System.Text;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Drift;
using ModelMonitor.Core.References;
using ModelMonitor.Core.Statistics;
using ModelMonitor.References.Drift;
using ModelMonitor.Storage.References;
using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.Exporter.Tests;

/// <summary>
/// The drift families the renderer adds for a snapshot and prepared references (pure): which series exist, the values
/// (the Core measures on the same sketches), thresholds (stored, per size, fixed per predictor), the active reference,
/// the methods exported, schema anomalies and the drifting-feature count.
/// </summary>
public sealed class DriftRenderingTests
{
    private static readonly ExporterOptions Defaults = new();

    private static NumericDistribution Values(IEnumerable<double> values)
    {
        var distribution = new NumericDistribution();
        foreach (var v in values)
        {
            distribution.Add(v);
        }

        return distribution;
    }

    private static (StatisticsSnapshot Snapshot, NumericDistribution Window) Snapshot()
    {
        var window = Values(Enumerable.Range(0, 400).Select(i => 20.0 + (i % 40))); // 20..59: above the reference's 0..39
        var distance = Snapshots.Feature("eta", "v1", "distance", 400);
        distance.Sketch = window.Sketch.Serialize();
        var market = Snapshots.Feature("eta", "v1", "market", 400, numeric: false, categories: """{"paris": 300, "berlin": 100}""", categorical: 400);
        var surge = Snapshots.Feature("eta", "v1", "surge", 400);
        surge.Sketch = Values(Enumerable.Repeat(1.5, 400)).Sketch.Serialize();
        var model = Snapshots.ModelWindow("eta", "v1", 400);
        model.Sketch = window.Sketch.Serialize();
        return (new StatisticsSnapshot([Snapshots.Model("eta", "v1")], [Snapshots.Window(300, [model], [distance, market, surge])]), window);
    }

    private static LoadedReference Reference(string name, string kind, long rows = 4_000, IReadOnlyList<StoredThreshold>? thresholds = null)
    {
        var profile = new ReferenceProfile(ReferenceStore.CategoryCapacity);
        profile.AddRows(rows);
        for (var i = 0; i < 4_000; i++)
        {
            profile.Feature("distance").Add(FeatureValue.FromNumber(i % 40));
            profile.Feature("market").Add(FeatureValue.FromString(i % 2 == 0 ? "paris" : "lyon"));
            profile.Feature("weather").Add(FeatureValue.FromNumber(i % 7));
            profile.Prediction.Add(i % 40);
        }

        return new LoadedReference(new ReferenceKey("eta", "v1", name), kind, profile, thresholds ?? []);
    }

    private static string Render(StatisticsSnapshot snapshot, IEnumerable<LoadedReference> references, DriftOptions? options = null)
    {
        var drift = options ?? new DriftOptions();
        return Encoding.UTF8.GetString(ExpositionRenderer.Render(snapshot, Defaults, drift: new DriftInput(new DriftReferences(references, drift), drift)).Bytes.Span);
    }

    private static double? Sample(string text, string series)
    {
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return line is null ? null : double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
    }

    private const string Labels = "predictor_name=\"eta\",model_id=\"v1\"";

    [Fact]
    public void Each_feature_gets_the_measures_of_its_kind_against_the_reference_with_their_thresholds()
    {
        var (snapshot, window) = Snapshot();
        var thresholds = new List<StoredThreshold>
        {
            new(300, new ReferenceThreshold("distance", DriftMethod.Ks, 0.33, 48, 0.1, 0.07)),
            new(0, new ReferenceThreshold("distance", DriftMethod.Ks, 0.9, 50, 0.1, 0.07)), // every size: the 5m one wins
            new(0, new ReferenceThreshold("distance", DriftMethod.Psi, 0.42, 50, 0.1, 0.1)),
        };
        var text = Render(snapshot, [Reference("training", ReferenceKinds.Uploaded, thresholds: thresholds)]);

        var reference = Values(Enumerable.Range(0, 4_000).Select(i => (double)(i % 40)));
        var expected = NumericDrift.Compare(NumericReference.From(reference)!, Points(window))!.Value;
        string Distance(string method) => $"modelmonitor_feature_drift{{{Labels},feature=\"distance\",window=\"5m\",reference=\"training\",method=\"{method}\"}}";
        Assert.Equal(expected.Ks, Sample(text, Distance("ks"))!.Value, 12);
        Assert.Equal(expected.Psi, Sample(text, Distance("psi"))!.Value, 12);
        Assert.Equal(expected.Wasserstein, Sample(text, Distance("wasserstein"))!.Value, 12);
        Assert.Null(Sample(text, Distance("linf"))); // a numeric feature has no L-infinity
        Assert.Equal(0.33, Sample(text, Distance("ks").Replace("feature_drift", "feature_drift_threshold", StringComparison.Ordinal)));
        Assert.Equal(0.42, Sample(text, Distance("psi").Replace("feature_drift", "feature_drift_threshold", StringComparison.Ordinal)));
        Assert.Equal(DriftMethod.Wasserstein.Floor(), Sample(text, Distance("wasserstein").Replace("feature_drift", "feature_drift_threshold", StringComparison.Ordinal)));
        Assert.Equal(0.5, Sample(text, $"modelmonitor_feature_out_of_range_ratio{{{Labels},feature=\"distance\",window=\"5m\",reference=\"training\"}}"));

        // market: categories. lyon (half the reference) vanished, berlin is new (a quarter of the window): L-infinity 0.5.
        Assert.Equal(0.5, Sample(text, $"modelmonitor_feature_drift{{{Labels},feature=\"market\",window=\"5m\",reference=\"training\",method=\"linf\"}}")!.Value, 12);
        Assert.Equal(0.25, Sample(text, $"modelmonitor_feature_unseen_category_ratio{{{Labels},feature=\"market\",window=\"5m\",reference=\"training\"}}")!.Value, 12);
        Assert.Null(Sample(text, $"modelmonitor_feature_drift{{{Labels},feature=\"market\",window=\"5m\",reference=\"training\",method=\"ks\"}}"));

        // Schema: surge is new, weather (in the reference) missing and exported as vanished.
        Assert.Equal(1, Sample(text, $"modelmonitor_feature_schema_anomaly{{{Labels},feature=\"surge\",window=\"5m\",reference=\"training\",kind=\"new_feature\"}}"));
        Assert.Equal(1, Sample(text, $"modelmonitor_feature_schema_anomaly{{{Labels},feature=\"weather\",window=\"5m\",reference=\"training\",kind=\"missing_feature\"}}"));
        Assert.Equal(1, Sample(text, $"modelmonitor_feature_missing_ratio{{{Labels},feature=\"weather\",window=\"5m\"}}"));
        Assert.Equal(expected.Ks, Sample(text, $"modelmonitor_prediction_drift{{{Labels},window=\"5m\",reference=\"training\",method=\"ks\"}}")!.Value, 12);
        Assert.Equal(1, Sample(text, $"modelmonitor_drift_reference_active{{{Labels},reference=\"training\"}}"));
        // distance (JS far above the 0.1 floor) and market drift by jensen_shannon.
        Assert.Equal(2, Sample(text, $"modelmonitor_model_drifting_features{{{Labels},window=\"5m\",reference=\"training\"}}"));
    }

    [Fact]
    public void Fixed_thresholds_the_active_reference_and_the_exported_methods_follow_the_settings()
    {
        var (snapshot, _) = Snapshot();
        var options = new DriftOptions { Methods = "jensen_shannon,ks" };
        options.Predictors["eta"] = new PredictorDrift { Reference = "production", Thresholds = { ["ks"] = 0.77 } };
        var text = Render(snapshot, [Reference("training", ReferenceKinds.Uploaded), Reference("production", ReferenceKinds.Production)], options);

        Assert.Equal(1, Sample(text, $"modelmonitor_drift_reference_active{{{Labels},reference=\"production\"}}"));
        Assert.Null(Sample(text, $"modelmonitor_drift_reference_active{{{Labels},reference=\"training\"}}"));
        Assert.Equal(0.77, Sample(text, $"modelmonitor_feature_drift_threshold{{{Labels},feature=\"distance\",window=\"5m\",reference=\"training\",method=\"ks\"}}"));
        Assert.NotNull(Sample(text, $"modelmonitor_feature_drift{{{Labels},feature=\"distance\",window=\"5m\",reference=\"production\",method=\"jensen_shannon\"}}"));
        Assert.DoesNotContain("method=\"psi\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("method=\"wasserstein\"", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Drift_is_measured_on_the_window_sizes_configured_only()
    {
        var (snapshot, _) = Snapshot();
        var text = Render(snapshot, [Reference("training", ReferenceKinds.Uploaded)], new DriftOptions { Windows = "1h" });
        Assert.DoesNotContain("modelmonitor_feature_drift{", text, StringComparison.Ordinal);
        Assert.DoesNotContain("modelmonitor_model_drifting_features{", text, StringComparison.Ordinal);
        Assert.Contains("modelmonitor_feature_drift{", Render(snapshot, [Reference("training", ReferenceKinds.Uploaded)], new DriftOptions { Windows = "5m" }), StringComparison.Ordinal);
    }

    [Fact]
    public void A_production_reference_below_the_minimum_count_is_not_compared_against()
    {
        var (snapshot, _) = Snapshot();
        var text = Render(snapshot, [Reference("production", ReferenceKinds.Production, rows: 999)]);
        Assert.DoesNotContain("modelmonitor_feature_drift{", text, StringComparison.Ordinal);
        Assert.DoesNotContain("reference=\"production\"", text, StringComparison.Ordinal);
        // Without drift input nothing of it is rendered, not even the families.
        var plain = Encoding.UTF8.GetString(ExpositionRenderer.Render(snapshot, Defaults).Bytes.Span);
        Assert.DoesNotContain("modelmonitor_feature_drift", plain, StringComparison.Ordinal);
    }

    [Fact]
    public void A_feature_with_fewer_values_than_the_minimum_is_measured_but_not_counted_as_drifting()
    {
        var window = Values(Enumerable.Range(0, 50).Select(i => 20.0 + (i % 40)));
        var distance = Snapshots.Feature("eta", "v1", "distance", 50);
        distance.Sketch = window.Sketch.Serialize();
        var model = Snapshots.ModelWindow("eta", "v1", 50);
        var snapshot = new StatisticsSnapshot([Snapshots.Model("eta", "v1")], [Snapshots.Window(300, [model], [distance])]);
        var text = Render(snapshot, [Reference("training", ReferenceKinds.Uploaded)]);
        var js = Sample(text, $"modelmonitor_feature_drift{{{Labels},feature=\"distance\",window=\"5m\",reference=\"training\",method=\"jensen_shannon\"}}");
        var threshold = Sample(text, $"modelmonitor_feature_drift_threshold{{{Labels},feature=\"distance\",window=\"5m\",reference=\"training\",method=\"jensen_shannon\"}}");
        Assert.True(js > threshold, $"{js} above {threshold}");
        Assert.Equal(0, Sample(text, $"modelmonitor_model_drifting_features{{{Labels},window=\"5m\",reference=\"training\"}}")); // 50 < Drift:MinWindowValues
        var lenient = Render(snapshot, [Reference("training", ReferenceKinds.Uploaded)], new DriftOptions { MinWindowValues = 50 });
        Assert.Equal(1, Sample(lenient, $"modelmonitor_model_drifting_features{{{Labels},window=\"5m\",reference=\"training\"}}"));
    }

    [Fact]
    public void The_drift_families_are_served_again_while_their_windows_are_unchanged_and_rendered_when_a_row_changes()
    {
        var (snapshot, _) = Snapshot();
        var options = new DriftOptions();
        var references = new DriftReferences([Reference("training", ReferenceKinds.Uploaded)], options);
        var cache = new DriftTextCache();
        string Cached(StatisticsSnapshot s) =>
            Encoding.UTF8.GetString(ExpositionRenderer.Render(s, Defaults, drift: new DriftInput(references, options, cache)).Bytes.Span);
        string Fresh(StatisticsSnapshot s) =>
            Encoding.UTF8.GetString(ExpositionRenderer.Render(s, Defaults, drift: new DriftInput(references, options)).Bytes.Span);

        var first = Cached(snapshot);
        Assert.Equal((0L, 1L), (cache.Hits, cache.Misses));
        Assert.Equal(Fresh(snapshot), first);
        Assert.Equal(first, Cached(snapshot)); // unchanged: served again
        Assert.Equal((1L, 1L), (cache.Hits, cache.Misses));

        // A late record into the window: the row's count (and sketch) change, the families are rendered again.
        var (changed, _) = Snapshot();
        var row = changed.Windows[0].Features.Single(f => f.Feature == "distance");
        row.ValueCount++;
        row.Sketch = Values(Enumerable.Range(0, 401).Select(i => 30.0 + (i % 40))).Sketch.Serialize();
        var again = Cached(changed);
        Assert.Equal((1L, 2L), (cache.Hits, cache.Misses));
        Assert.Equal(Fresh(changed), again);
        Assert.NotEqual(first, again);

        // The next window (same counts, another end): rendered; new references (a reload): rendered.
        var next = new StatisticsSnapshot(changed.Models, [changed.Windows[0] with { WindowStart = changed.Windows[0].WindowStart.AddSeconds(300) }]);
        Cached(next);
        Assert.Equal((1L, 3L), (cache.Hits, cache.Misses));
        var reloaded = new DriftReferences([Reference("training", ReferenceKinds.Uploaded)], options);
        ExpositionRenderer.Render(next, Defaults, drift: new DriftInput(reloaded, options, cache));
        Assert.Equal((1L, 4L), (cache.Hits, cache.Misses));
    }

    [Fact]
    public void A_window_size_whose_windows_are_unchanged_keeps_its_drift_text_while_another_size_is_rendered()
    {
        var (fiveMinutes, _) = Snapshot();
        var (hour, _) = Snapshot();
        var snapshot = new StatisticsSnapshot(fiveMinutes.Models, [fiveMinutes.Windows[0], hour.Windows[0] with { WindowSeconds = 3600 }]);
        var options = new DriftOptions();
        var references = new DriftReferences([Reference("training", ReferenceKinds.Uploaded)], options);
        var cache = new DriftTextCache();
        Exposition Cached(StatisticsSnapshot s) => ExpositionRenderer.Render(s, Defaults, drift: new DriftInput(references, options, cache));
        string Fresh(StatisticsSnapshot s) =>
            Encoding.UTF8.GetString(ExpositionRenderer.Render(s, Defaults, drift: new DriftInput(references, options)).Bytes.Span);

        var first = Cached(snapshot);
        Assert.Equal((0L, 2L), (cache.Hits, cache.Misses));
        Assert.Equal(Fresh(snapshot), Encoding.UTF8.GetString(first.Bytes.Span));

        // The next 5m window: its part is rendered, the hour's part is the same memory as before (and so keeps its gzip).
        var next = new StatisticsSnapshot(snapshot.Models, [snapshot.Windows[0] with { WindowStart = snapshot.Windows[0].WindowStart.AddSeconds(300) }, snapshot.Windows[1]]);
        var second = Cached(next);
        Assert.Equal((1L, 3L), (cache.Hits, cache.Misses));
        var text = Encoding.UTF8.GetString(second.Bytes.Span);
        Assert.Equal(Fresh(next), text);
        var kept = first.Segments.Skip(1).Where(s => Encoding.UTF8.GetString(s.Span).Contains("window=\"1h\"", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(kept);
        Assert.All(kept, segment => Assert.Contains(second.Segments, s => s.Equals(segment)));
        Assert.DoesNotContain(second.Segments.Skip(1), s => Encoding.UTF8.GetString(s.Span).Contains("window=\"5m\"", StringComparison.Ordinal) && first.Segments.Contains(s));

        // Each family once, its header first, both sizes' samples under it (the text format's rule), as promtool would check.
        foreach (var family in new[] { "modelmonitor_feature_drift", "modelmonitor_feature_drift_threshold", "modelmonitor_model_drifting_features" })
        {
            Assert.Single(text.Split('\n'), l => l == $"# TYPE {family} gauge");
            var lines = text.Split('\n').Select((l, i) => (l, i)).Where(x => x.l.StartsWith(family + "{", StringComparison.Ordinal)).Select(x => x.i).ToList();
            Assert.Equal(lines.Count - 1, lines[^1] - lines[0]); // contiguous
            Assert.Contains(text.Split('\n'), l => l.StartsWith(family + "{", StringComparison.Ordinal) && l.Contains("window=\"1h\"", StringComparison.Ordinal));
            Assert.Contains(text.Split('\n'), l => l.StartsWith(family + "{", StringComparison.Ordinal) && l.Contains("window=\"5m\"", StringComparison.Ordinal));
        }
    }

    private static List<SketchPoint> Points(NumericDistribution distribution)
    {
        var points = new List<SketchPoint>();
        distribution.Sketch.CopyPoints(points);
        return points;
    }
}
