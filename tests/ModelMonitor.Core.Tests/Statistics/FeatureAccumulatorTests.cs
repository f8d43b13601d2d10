using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Statistics;

namespace ModelMonitor.Core.Tests.Statistics;

public sealed class FeatureAccumulatorTests
{
    [Fact]
    public void Values_are_sorted_into_numeric_non_finite_categorical_and_null()
    {
        var feature = new FeatureAccumulator();
        feature.Add(FeatureValue.FromNumber(1));
        feature.Add(FeatureValue.FromNumber(3));
        feature.Add(FeatureValue.FromNumber(double.NaN));
        feature.Add(FeatureValue.FromNumber(double.PositiveInfinity));
        feature.Add(FeatureValue.FromNumber(double.NegativeInfinity));
        feature.Add(FeatureValue.FromString("red"));
        feature.Add(FeatureValue.FromBoolean(true));
        feature.Add(FeatureValue.Null);
        feature.AddDefault();

        Assert.Equal(7, feature.ValueCount);
        Assert.Equal(1, feature.NullCount);
        Assert.Equal(1, feature.DefaultCount);
        Assert.Equal(3, feature.NonFiniteCount);
        Assert.Equal(2, feature.CategoricalCount);
        Assert.Equal(2, feature.Numeric.Count);
        Assert.Equal(2, feature.Numeric.Moments.Mean);
        Assert.Equal(Math.Sqrt(2), feature.Numeric.Moments.SampleStdDev!.Value, 1e-12);
        Assert.Equal([new("red", 1), new("true", 1)], feature.Categories.Top());
    }

    [Fact]
    public void NaN_never_reaches_mean_or_quantiles()
    {
        var feature = new FeatureAccumulator();
        for (var i = 0; i < 100; i++)
        {
            feature.Add(FeatureValue.FromNumber(i % 2 == 0 ? double.NaN : 10));
        }

        Assert.Equal(10, feature.Numeric.Moments.Mean);
        Assert.Equal(10, feature.Numeric.Quantile(0.95));
        Assert.Equal(50, feature.NonFiniteCount);
    }

    [Fact]
    public void Quantiles_are_clamped_to_the_observed_range()
    {
        var numeric = new NumericDistribution();
        numeric.Add(100);
        // The bin's representative would be up to 1% off; a single value is known exactly.
        Assert.Equal(100, numeric.Quantile(0.5));
        Assert.Null(new NumericDistribution().Quantile(0.5));
    }

    [Fact]
    public void Merged_accumulators_equal_one_accumulator_over_everything()
    {
        var values = Distributions.Generate("mixed-sign", 3_000, seed: 4);
        var whole = new FeatureAccumulator();
        var parts = new[] { new FeatureAccumulator(), new FeatureAccumulator(), new FeatureAccumulator() };
        for (var i = 0; i < values.Length; i++)
        {
            var value = (i % 10) switch
            {
                0 => FeatureValue.Null,
                1 => FeatureValue.FromString("c" + (i % 3)),
                2 => FeatureValue.FromNumber(double.NaN),
                _ => FeatureValue.FromNumber(values[i]),
            };
            whole.Add(value);
            parts[i % 3].Add(value);
            if (i % 4 == 0)
            {
                whole.AddDefault();
                parts[i % 3].AddDefault();
            }
        }

        var merged = new FeatureAccumulator();
        foreach (var part in parts)
        {
            merged.Merge(part);
        }

        Assert.Equal(whole.ValueCount, merged.ValueCount);
        Assert.Equal(whole.NullCount, merged.NullCount);
        Assert.Equal(whole.DefaultCount, merged.DefaultCount);
        Assert.Equal(whole.NonFiniteCount, merged.NonFiniteCount);
        Assert.Equal(whole.Categories.Top(), merged.Categories.Top());
        Assert.Equal(whole.Numeric.Sketch.Serialize(), merged.Numeric.Sketch.Serialize());
        Assert.Equal(whole.Numeric.Moments.Mean, merged.Numeric.Moments.Mean, 1e-12);
        Assert.Equal(whole.Numeric.Moments.M2, merged.Numeric.Moments.M2, whole.Numeric.Moments.M2 * 1e-12);
    }

    [Fact]
    public void Model_accumulator_counts_every_prediction_and_keeps_non_finite_results_apart()
    {
        var model = new ModelAccumulator();
        model.Add(0.25);
        model.Add(0.75);
        model.Add(double.NaN);

        Assert.Equal(3, model.PredictionCount);
        Assert.Equal(1, model.NonFiniteCount);
        Assert.Equal(0.5, model.Result.Moments.Mean);
    }

    [Fact]
    public void Values_outside_the_majority_JSON_type_are_type_mismatches_and_merge()
    {
        // tenure_months from three callers: numbers, the same as strings, once a boolean; nulls are no type.
        var values = new[] { FeatureValue.FromNumber(12), FeatureValue.FromNumber(double.NaN), FeatureValue.FromNumber(3), FeatureValue.FromString("12"),
            FeatureValue.FromString("7"), FeatureValue.FromBoolean(true), FeatureValue.Null };
        var whole = new FeatureAccumulator();
        var left = new FeatureAccumulator();
        var right = new FeatureAccumulator();
        for (var i = 0; i < values.Length; i++)
        {
            whole.Add(values[i]);
            (i % 2 == 0 ? left : right).Add(values[i]);
        }
        left.Merge(right);

        foreach (var accumulator in new[] { whole, left })
        {
            Assert.Equal(6, accumulator.ValueCount);
            Assert.Equal(1, accumulator.BooleanCount);
            Assert.Equal(3, accumulator.TypeMismatchCount); // 3 numbers (one NaN) are the majority: 2 strings + 1 boolean
        }
        var onlyNumbers = new FeatureAccumulator();
        onlyNumbers.Add(FeatureValue.FromNumber(1));
        onlyNumbers.Add(FeatureValue.Null);
        Assert.Equal(0, onlyNumbers.TypeMismatchCount);
    }
}
