namespace ModelMonitor.DemoTraffic.Scenarios;

/// <summary>
/// The distributions real features follow, drawn from a seeded <see cref="Random"/> so a run can be replayed.
/// </summary>
public static class Sampling
{
    /// <summary>Standard normal by Box-Muller; 1 - NextDouble() keeps the logarithm away from 0.</summary>
    public static double NextGaussian(this Random rng)
    {
        var u1 = 1.0 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    public static double NextNormal(this Random rng, double mean, double stddev) => mean + (stddev * rng.NextGaussian());

    /// <summary>Lognormal given its median (e^mu) and sigma: distances, amounts and ages are skewed right like this.</summary>
    public static double NextLogNormal(this Random rng, double median, double sigma) => median * Math.Exp(sigma * rng.NextGaussian());

    /// <summary>Exponential by inversion: waiting times between independent events.</summary>
    public static double NextExponential(this Random rng, double mean) => -mean * Math.Log(1.0 - rng.NextDouble());

    /// <summary>
    /// Poisson counts: Knuth's product of uniforms for small lambda (exact), a rounded normal above 30
    /// where the Poisson is already close to N(lambda, lambda).
    /// </summary>
    public static int NextPoisson(this Random rng, double lambda)
    {
        if (lambda <= 0)
        {
            return 0;
        }

        if (lambda > 30)
        {
            return Math.Max(0, (int)Math.Round(rng.NextNormal(lambda, Math.Sqrt(lambda))));
        }

        var limit = Math.Exp(-lambda);
        var product = rng.NextDouble();
        var count = 0;
        while (product > limit)
        {
            count++;
            product *= rng.NextDouble();
        }

        return count;
    }

    /// <summary>
    /// A ratio in (0, 1) around <paramref name="median"/>: logistic of a normal on the logit scale
    /// (a logit-normal, close to a Beta but needing no gamma sampler).
    /// </summary>
    public static double NextRatio(this Random rng, double median, double spread)
    {
        var logit = Math.Log(median / (1 - median)) + (spread * rng.NextGaussian());
        return 1.0 / (1.0 + Math.Exp(-logit));
    }

    public static bool NextBoolean(this Random rng, double probabilityOfTrue) => rng.NextDouble() < probabilityOfTrue;

    /// <summary>Picks an index with probability proportional to its weight.</summary>
    public static int NextWeighted(this Random rng, IReadOnlyList<double> weights)
    {
        var total = 0.0;
        foreach (var weight in weights)
        {
            total += weight;
        }

        var target = rng.NextDouble() * total;
        for (var i = 0; i < weights.Count; i++)
        {
            target -= weights[i];
            if (target < 0)
            {
                return i;
            }
        }

        return weights.Count - 1;
    }
}
