using ModelMonitor.Core.Shadows;
using ModelMonitor.Core.Windows;

namespace ModelMonitor.Core.Tests.Shadows;

/// <summary>Unregistered predictors whose models never share a prediction_id stop being compared for a while; shadows
/// that do pair keep being compared; the per-predictor counts the probation reads come from the pairing itself.</summary>
public class ComparisonProbationTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public void An_ab_split_is_suspended_after_its_probation_and_tried_again_after_the_suspension()
    {
        var probation = new ComparisonProbation(minPredictions: 1_000, minPairRatio: 0.01, suspension: TimeSpan.FromHours(1));
        Assert.False(probation.Record("ab", 600, 0, T0)); // not judged before 1,000 predictions
        Assert.False(probation.IsSuspended("ab", T0));
        Assert.True(probation.Record("ab", 600, 5, T0)); // 5 pairs of 1,200 < 1%
        Assert.True(probation.IsSuspended("ab", T0.AddMinutes(59)));
        Assert.Equal(["ab"], probation.Suspended(T0.AddMinutes(59)));
        Assert.False(probation.IsSuspended("ab", T0.AddHours(1))); // tried again, from zero
        Assert.False(probation.Record("ab", 999, 0, T0.AddHours(1)));

        Assert.False(probation.Record("shadowed", 1_000, 500, T0)); // a primary and a shadow: half of the predictions pair
        Assert.False(probation.IsSuspended("shadowed", T0));
        Assert.Empty(probation.Suspended(T0.AddHours(2)));
    }

    [Fact]
    public void The_pairing_counts_new_predictions_and_pairs_per_predictor()
    {
        var t = T0;
        var stored = new List<ShadowPrediction>
        {
            new("eta", "1", "a", t, 1), new("eta", "1", "b", t, 2), new("eta", "1", "c", t, 3), // 3 pairs
            new("ab", "1", "x", t, 1), new("ab", "2", "y", t, 2), // no shared id
        };
        var result = ShadowJoin.Contribute(stored, _ => true, [new WindowSize(60)], TimeSpan.FromMinutes(10), _ => 3, _ => null);
        Assert.Equal((3L, 3L), result.PerPredictor["eta"]);
        Assert.Equal((2L, 0L), result.PerPredictor["ab"]);
    }
}
