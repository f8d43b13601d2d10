using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Drift;
using ModelMonitor.Core.References;
using ModelMonitor.Core.Statistics;
using ModelMonitor.References.Drift;
using ModelMonitor.Storage.References;
using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.References.Tests;

/// <summary>The drift history rows of a window (pure): what is compared, what is flagged, and when a window is too small
/// to be judged drifting.</summary>
public sealed class DriftHistoryRowsTests
{
    private static LoadedReference Reference()
    {
        var profile = new ReferenceProfile(ReferenceStore.CategoryCapacity);
        profile.AddRows(4_000);
        for (var i = 0; i < 4_000; i++)
        {
            profile.Feature("distance").Add(FeatureValue.FromNumber(i % 40));
            profile.Feature("weather").Add(FeatureValue.FromNumber(i % 7));
            profile.Prediction.Add(i % 40);
        }

        return new LoadedReference(new ReferenceKey("eta", "v1", "training"), ReferenceKinds.Uploaded, profile, []);
    }

    private static (ModelWindowRow Model, FeatureWindowRow Distance, FeatureWindowRow Surge, NumericDistribution Values) Window(int values)
    {
        var distribution = new NumericDistribution();
        for (var i = 0; i < values; i++)
        {
            distribution.Add(100 + (i % 40)); // far above the reference's 0..39
        }

        var sketch = distribution.Sketch.Serialize();
        var model = new ModelWindowRow { PredictorName = "eta", ModelId = "v1", PredictionCount = values, Sketch = sketch };
        var distance = new FeatureWindowRow { PredictorName = "eta", ModelId = "v1", Feature = "distance", ValueCount = values, NumericCount = values, Sketch = sketch };
        var surge = new FeatureWindowRow { PredictorName = "eta", ModelId = "v1", Feature = "surge", ValueCount = values, NumericCount = values, Sketch = sketch };
        return (model, distance, surge, distribution);
    }

    [Fact]
    public void Every_feature_and_the_prediction_are_compared_and_a_small_window_is_never_judged_drifting()
    {
        var options = new DriftOptions();
        var references = new DriftReferences([Reference()], options);
        foreach (var (values, drifting) in new[] { (400, true), (50, false) })
        {
            var (model, distance, surge, window) = Window(values);
            var (features, predictions) = DriftHistoryRows.Of([model], [distance, surge], references, options, 300);

            // distance compared, weather missing from the window, surge new to the reference: in feature order.
            Assert.Equal(["distance", "surge", "weather"], features.Select(f => f.Feature));
            var row = features[0];
            var expected = FeatureComparison.From(Reference().Profile.Features["distance"]).Compare(WindowValues.OfNumbers(window, 0, []))!.Value;
            Assert.Equal(expected.JensenShannon, row.JensenShannon!.Value, 12);
            Assert.Equal(expected.Ks, row.Ks!.Value, 12);
            Assert.Equal(1.0, row.OutOfRangeRatio);
            Assert.Equal((null, null, null), (row.Linf, row.UnseenCategoryRatio, row.SchemaAnomaly));
            Assert.Equal(("jensen_shannon", drifting), (row.AlertMethod, row.Drifting)); // far off, but 50 values are too few to judge
            Assert.Equal(("new_feature", null), (features[1].SchemaAnomaly, features[1].JensenShannon));
            Assert.Equal(("missing_feature", null, null), (features[2].SchemaAnomaly, features[2].JensenShannon, features[2].Drifting));
            Assert.Equal(drifting, Assert.Single(predictions).Drifting);
        }

        // A model without references has no history rows.
        var (other, _, _, _) = Window(400);
        other.ModelId = "v2";
        var (none, nothing) = DriftHistoryRows.Of([other], [], references, options, 300);
        Assert.Equal((0, 0), (none.Count, nothing.Count));
    }
}
