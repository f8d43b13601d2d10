using ModelMonitor.Core.Shadows;
using ModelMonitor.Core.Windows;

namespace ModelMonitor.Core.Tests.Shadows;

/// <summary>The shadow comparison against exact answers computed from the raw pairs: means and correlation up to rounding,
/// the |diff| quantiles within DDSketch's 1 % of the lower nearest-rank order statistic, the agreement exactly; merging
/// split states gives the state of the whole.</summary>
public class ShadowAccumulatorTests
{
    private static List<(double A, double B)> Pairs(int n, int seed, double bias = 0)
    {
        var random = new Random(seed);
        var pairs = new List<(double, double)>(n);
        for (var i = 0; i < n; i++)
        {
            var a = 20 + (10 * random.NextDouble()) + (i % 7);
            pairs.Add((a, a + bias + (random.NextDouble() - 0.5) * 3));
        }
        return pairs;
    }

    private static double ExactQuantile(IReadOnlyList<double> values, double q)
    {
        var sorted = values.Order().ToList();
        return sorted[(int)Math.Floor(q * (sorted.Count - 1))];
    }

    private static void AssertExact(List<(double A, double B)> pairs, ShadowSummary summary, double? threshold)
    {
        var n = pairs.Count;
        Assert.Equal(n, summary.Pairs);
        var diffs = pairs.Select(p => p.B - p.A).ToList();
        Assert.Equal(diffs.Average(), summary.DiffMean!.Value, 1e-9);
        Assert.Equal(diffs.Average(Math.Abs), summary.AbsDiffMean!.Value, 1e-9);
        var meanA = pairs.Average(p => p.A);
        var meanB = pairs.Average(p => p.B);
        var cov = pairs.Sum(p => (p.A - meanA) * (p.B - meanB));
        var r = cov / Math.Sqrt(pairs.Sum(p => (p.A - meanA) * (p.A - meanA)) * pairs.Sum(p => (p.B - meanB) * (p.B - meanB)));
        Assert.Equal(r, summary.Correlation!.Value, 1e-9);
        var abs = diffs.Select(Math.Abs).ToList();
        foreach (var (q, value) in summary.AbsDiffQuantiles)
        {
            var exact = ExactQuantile(abs, q);
            Assert.True(Math.Abs(value - exact) <= 0.01 * exact + 1e-12, $"q{q}: {value} vs exact {exact}");
        }
        if (threshold is { } t)
        {
            Assert.Equal((double)pairs.Count(p => p.A >= t == p.B >= t) / n, summary.AgreementRatio!.Value, 1e-15);
        }
        else
        {
            Assert.Null(summary.AgreementRatio);
        }
    }

    [Fact]
    public void Statistics_match_the_exact_values_of_the_raw_pairs()
    {
        var pairs = Pairs(5_000, 1, bias: 1.5);
        var accumulator = new ShadowAccumulator();
        foreach (var (a, b) in pairs)
        {
            accumulator.Add(a, b, threshold: null);
        }
        AssertExact(pairs, accumulator.Summarize(), null);
        Assert.Equal(ShadowQuantiles.AbsDiff, accumulator.Summarize().AbsDiffQuantiles.Select(q => q.Quantile));
    }

    [Fact]
    public void Merged_parts_and_a_serialization_round_trip_equal_the_whole()
    {
        var pairs = Pairs(3_001, 2).Select(p => (p.A / 40, p.B / 40)).ToList(); // scores around 0.5 for the agreement
        var parts = new[] { new ShadowAccumulator(), new ShadowAccumulator(), new ShadowAccumulator() };
        for (var i = 0; i < pairs.Count; i++)
        {
            parts[i % 3 == 0 ? 0 : i < 2_000 ? 1 : 2].Add(pairs[i].Item1, pairs[i].Item2, threshold: 0.7);
        }
        var merged = ShadowAccumulator.Deserialize(parts[0].Serialize());
        merged.Merge(ShadowAccumulator.Deserialize(parts[1].Serialize()));
        merged.Merge(parts[2]);
        AssertExact(pairs, merged.Summarize(), 0.7);
    }

    [Fact]
    public void Undefined_statistics_are_null()
    {
        Assert.Equal(0, new ShadowAccumulator().Summarize().Pairs);
        Assert.Null(new ShadowAccumulator().Summarize().DiffMean);
        var constant = new ShadowAccumulator();
        constant.Add(1, 2, null);
        constant.Add(1, 3, null);
        Assert.Null(constant.Summarize().Correlation); // the first model is constant
        Assert.Equal(1.5, constant.Summarize().DiffMean);
        Assert.Throws<ArgumentOutOfRangeException>(() => constant.Add(double.NaN, 1, null));
        Assert.Throws<FormatException>(() => ShadowAccumulator.Deserialize([9, 1, 2]));
    }
}

/// <summary>The join of a batch: pairs within the join window, once, in the window of the earlier sent_at; complete ids.</summary>
public class ShadowJoinTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Pairs_are_formed_once_within_the_join_window_and_never_across_predictors()
    {
        var stored = new List<ShadowPrediction>
        {
            new("eta", "1", "v1", T0.AddSeconds(50), 10), // new
            new("eta", "1", "v2", T0.AddSeconds(70), 12), // stored before: pairs with the new v1 (window of v1's 10:00:50)
            new("eta", "2", "v1", T0, 10), // both stored before: no new pair
            new("eta", "2", "v2", T0, 11),
            new("eta", "3", "v1", T0, 10), // new, partner 11 minutes away: no pair
            new("eta", "3", "v2", T0.AddMinutes(11), 30),
            new("fraud", "1", "f1", T0, 0.2), // same id, another predictor: no pair with eta
        };
        var inserted = new HashSet<ShadowPrediction> { stored[0], stored[4], stored[6] };
        var result = ShadowJoin.Contribute(stored, inserted.Contains, [new WindowSize(60), new WindowSize(3600)], TimeSpan.FromMinutes(10),
            p => 2, p => null);

        Assert.Equal(1, result.PairCount);
        var minute = Assert.Single(result.Pairs, p => p.Key.WindowSeconds == 60);
        Assert.Equal(new ShadowPairKey(60, T0, "eta", "v1", "v2"), minute.Key);
        Assert.Equal(2, minute.Value.Summarize().DiffMean); // v2 − v1
        Assert.Equal(2, result.Pairs.Count); // and the hour
        Assert.Equal(2, result.Predictions[new ShadowModelKey(60, T0, "eta", "v1")]); // ids 1 and 3 of v1, both sent in 10:00-10:01
        Assert.Equal(2, result.Predictions[new ShadowModelKey(3600, T0, "eta", "v1")]);
        Assert.Equal(1, result.Predictions[new ShadowModelKey(60, T0, "fraud", "f1")]);
        Assert.False(result.Predictions.ContainsKey(new ShadowModelKey(60, T0.AddMinutes(1), "eta", "v2"))); // stored before: counted then
        Assert.Equal([("eta", "1"), ("eta", "2"), ("eta", "3")], result.Complete.Order()); // each has both of eta's models
    }

    [Fact]
    public void Three_new_models_of_one_id_form_three_pairs_and_an_id_missing_a_model_stays()
    {
        var stored = new List<ShadowPrediction>
        {
            new("eta", "9", "c", T0, 3), new("eta", "9", "a", T0, 1), new("eta", "9", "b", T0, 2), new("eta", "8", "a", T0, 1),
        };
        var result = ShadowJoin.Contribute(stored, _ => true, [new WindowSize(60)], TimeSpan.FromMinutes(10), p => 3, p => 0.5);
        Assert.Equal(3, result.PairCount);
        Assert.Equal(["a|b", "a|c", "b|c"], result.Pairs.Keys.Select(k => $"{k.ModelA}|{k.ModelB}").Order());
        Assert.Equal([("eta", "9")], result.Complete);
    }

    [Fact]
    public void A_batch_read_into_groups_joins_to_the_counts_and_differences_computed_from_its_raw_predictions()
    {
        // Two predictors, ids predicted by some of their models a few seconds apart across three minutes, read in arrival
        // order with repeats (the first counts).
        var random = new Random(17);
        var models = new Dictionary<string, string[]> { ["eta"] = ["v3", "v1", "v2"], ["fraud"] = ["f2", "f1"] };
        var read = new List<ShadowPrediction>();
        for (var i = 0; i < 2_000; i++)
        {
            var predictor = i % 3 == 0 ? "fraud" : "eta";
            var sentAt = T0.AddSeconds(random.Next(180));
            foreach (var model in models[predictor].Where(_ => random.NextDouble() < 0.8))
            {
                read.Add(new ShadowPrediction(predictor, $"{i}", model, sentAt.AddSeconds(random.Next(3)), Math.Round(random.NextDouble() * 100, 3)));
            }
        }
        var distinct = read.Count;
        read.AddRange(read.Where((_, k) => k % 50 == 0).Select(p => p with { PredictionResult = -1 }).ToList());
        var batch = new ShadowBatch();
        var kept = read.Where(batch.Add).ToList();
        Assert.Equal(distinct, kept.Count); // the repeats refused
        Assert.Equal(distinct, batch.Predictions);
        Assert.All(kept, p => Assert.NotEqual(-1, p.PredictionResult));

        var minute = new WindowSize(60);
        var result = ShadowJoin.Contribute(batch.Groups, [minute], TimeSpan.FromMinutes(10), p => models[p].Length, _ => null);

        var expected = kept.GroupBy(p => (p.PredictorName, p.PredictionId))
            .SelectMany(g => g.SelectMany(a => g.Where(b => string.CompareOrdinal(a.ModelId, b.ModelId) < 0).Select(b => (a, b))))
            .GroupBy(x => new ShadowPairKey(60, minute.WindowStart(x.a.SentAt <= x.b.SentAt ? x.a.SentAt : x.b.SentAt), x.a.PredictorName, x.a.ModelId, x.b.ModelId))
            .ToDictionary(g => g.Key, g => (Pairs: (long)g.Count(), DiffMean: g.Average(x => x.b.PredictionResult - x.a.PredictionResult)));
        Assert.Equal(expected.Count, result.Pairs.Count);
        foreach (var (key, (pairs, diffMean)) in expected)
        {
            var summary = result.Pairs[key].Summarize();
            Assert.Equal(pairs, summary.Pairs);
            Assert.Equal(diffMean, summary.DiffMean!.Value, 9);
        }
        Assert.Equal(expected.Values.Sum(v => v.Pairs), result.PairCount);
        var counts = kept.GroupBy(p => new ShadowModelKey(60, minute.WindowStart(p.SentAt), p.PredictorName, p.ModelId)).ToDictionary(g => g.Key, g => (long)g.Count());
        Assert.Equal(counts.Count, result.Predictions.Count);
        Assert.All(counts, c => Assert.Equal(c.Value, result.Predictions[c.Key]));
        Assert.Empty(result.Complete); // nothing of a batch's own ids waits in the table
        Assert.Equal(kept.Count(p => p.PredictorName == "eta"), result.PerPredictor["eta"].Predictions);
    }
}
