namespace ModelMonitor.Core.Tests.Statistics;

/// <summary>Seeded data sets for the sketch tests, and the exact quantile the sketch promises to approximate.</summary>
internal static class Distributions
{
    public static IEnumerable<object[]> Names() =>
        new[] { "normal", "lognormal", "exponential", "uniform", "constant", "negative", "mixed-sign", "with-zeros", "wide-range" }
            .Select(n => new object[] { n });

    public static double[] Generate(string name, int n, int seed)
    {
        var random = new Random(seed);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        return Enumerable.Range(0, n).Select(_ => name switch
        {
            "normal" => 100 + (15 * Normal()),
            "lognormal" => Math.Exp(1 + (1.5 * Normal())),
            "exponential" => -Math.Log(1 - random.NextDouble()) * 3,
            "uniform" => 5 + (random.NextDouble() * 95),
            "constant" => 42.5,
            "negative" => -Math.Exp(2 * Normal()),
            "mixed-sign" => 10 * Normal(),
            "with-zeros" => random.Next(4) == 0 ? 0 : random.NextDouble() - 0.5,
            // 16 decades: 1,842 bins at 1%, inside the 2,048-bin bound.
            "wide-range" => Math.Pow(10, (random.NextDouble() * 16) - 8) * (random.Next(2) == 0 ? -1 : 1),
            _ => throw new ArgumentException(name),
        }).ToArray();
    }

    /// <summary>The lower nearest-rank quantile: sorted[⌊q·(n − 1)⌋], the definition DDSketch documents.</summary>
    public static double ExactQuantile(double[] sorted, double q) => sorted[(int)Math.Floor(q * (sorted.Length - 1))];

    public static IReadOnlyList<double> CheckedQuantiles { get; } =
        [0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.333, 0.5, 0.667, 0.75, 0.9, 0.95, 0.99, 0.999, 1];
}
