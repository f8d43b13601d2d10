using ModelMonitor.Core.Evaluation;

namespace ModelMonitor.Core.Tests.Evaluation;

/// <summary>A (prediction, outcome) pair of any task: binary outcomes are 0 or 1, multiclass classes are small integers
/// (named by <see cref="EvaluationAccumulator.ClassOf"/>).</summary>
internal readonly record struct Pair(double Prediction, double Actual, double Delay);

/// <summary>Seeded pairs, accumulators built from them, and the comparisons the evaluation tests share.</summary>
internal static class EvaluationPairs
{
    public static IEnumerable<object[]> Tasks() => Enum.GetValues<EvaluationTask>().Select(t => new object[] { t });

    public static Pair[] Generate(EvaluationTask task, int n, int seed)
    {
        var random = new Random(seed);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        return Enumerable.Range(0, n).Select(_ =>
        {
            // Mostly minutes, a few negative (clock skew: counted as 0).
            var delay = random.Next(20) == 0 ? -5 : -Math.Log(1 - random.NextDouble()) * 300;
            switch (task)
            {
                case EvaluationTask.Regression:
                    var actual = random.Next(20) == 0 ? 0 : 50 + (10 * Normal());
                    return new Pair(actual + 0.5 + (3 * Normal()), actual, delay);
                case EvaluationTask.Binary:
                    var positive = random.NextDouble() < 0.4;
                    var u = random.NextDouble();
                    var score = random.Next(50) == 0 ? (positive ? 1 : 0) : positive ? 1 - (u * u) : u * u;
                    return new Pair(score, positive ? 1 : 0, delay);
                default:
                    var actualClass = random.Next(5);
                    return new Pair(random.NextDouble() < 0.6 ? actualClass : random.Next(5), actualClass, delay);
            }
        }).ToArray();
    }

    public static void Add(EvaluationAccumulator accumulator, Pair pair, int sign = 1)
    {
        switch (accumulator.Task)
        {
            case EvaluationTask.Regression:
                accumulator.AddRegression(pair.Prediction, pair.Actual, pair.Delay, sign);
                break;
            case EvaluationTask.Binary:
                accumulator.AddBinary(pair.Prediction, pair.Actual == 1, pair.Delay, sign);
                break;
            default:
                accumulator.AddMulticlass(EvaluationAccumulator.ClassOf(pair.Prediction), EvaluationAccumulator.ClassOf(pair.Actual), pair.Delay, sign);
                break;
        }
    }

    public static EvaluationAccumulator Build(EvaluationTask task, IEnumerable<Pair> pairs, long predictions = 0, double threshold = 0.5)
    {
        var accumulator = new EvaluationAccumulator(task, threshold);
        accumulator.CountPredictions(predictions);
        foreach (var pair in pairs)
        {
            Add(accumulator, pair);
        }

        return accumulator;
    }

    public static double?[] Scalars(EvaluationSummary s) =>
        [s.PredictionCount, s.LabelledCount, s.LabelCoverage, s.Mae, s.Rmse, s.MeanError, s.Mape, s.R2,
         s.Accuracy, s.Precision, s.Recall, s.F1, s.LogLoss, s.Brier, s.RocAuc];

    /// <summary>Equal counts and quantiles (sketches are exact), every other metric within <paramref name="relative"/>.</summary>
    public static void AssertSummariesClose(EvaluationSummary expected, EvaluationSummary actual, double relative = 1e-9)
    {
        Assert.Equal(expected.PredictionCount, actual.PredictionCount);
        Assert.Equal(expected.LabelledCount, actual.LabelledCount);
        Assert.Equal(expected.LabelDelayQuantiles, actual.LabelDelayQuantiles);
        Assert.Equal(expected.AbsErrorQuantiles, actual.AbsErrorQuantiles);
        foreach (var (e, a) in Scalars(expected).Zip(Scalars(actual)))
        {
            Assert.Equal(e.HasValue, a.HasValue);
            if (e is { } value)
            {
                AssertClose(value, a, relative);
            }
        }
    }

    public static void AssertClose(double expected, double? actual, double relative = 1e-9)
    {
        Assert.NotNull(actual);
        Assert.True(
            Math.Abs(actual.Value - expected) <= (relative * Math.Abs(expected)) + 1e-15,
            $"expected {expected:R}, got {actual.Value:R}");
    }

    /// <summary>Each reported quantile within the sketch's 1% of the lower nearest rank v[⌊q·(n − 1)⌋] of the values.</summary>
    public static void AssertQuantiles(IEnumerable<double> values, double[] levels, IReadOnlyList<(double Quantile, double Value)> quantiles)
    {
        var sorted = values.Order().ToArray();
        Assert.Equal(levels, quantiles.Select(q => q.Quantile));
        foreach (var (q, estimate) in quantiles)
        {
            var exact = sorted[(int)Math.Floor(q * (sorted.Length - 1))];
            Assert.True(Math.Abs(estimate - exact) <= 0.01 * Math.Abs(exact) * (1 + 1e-9), $"q={q} exact={exact:R} estimate={estimate:R}");
        }
    }
}
