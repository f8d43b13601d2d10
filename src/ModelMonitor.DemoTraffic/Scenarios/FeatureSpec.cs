using ModelMonitor.Core.Contracts;

namespace ModelMonitor.DemoTraffic.Scenarios;

/// <summary>
/// How one feature of a demo model behaves: how its real value is drawn, and the value the
/// prediction service falls back to (and reports in default_values_used) when the real one is unavailable.
/// </summary>
/// <param name="Name">The feature name as sent.</param>
/// <param name="Sample">Draws a real value; the second argument is the time of the (demo) day.</param>
/// <param name="Default">The configured default value, or null when the service has none (then it never defaults).</param>
/// <param name="DefaultRate">Probability that a record uses the default instead of the real value.</param>
public sealed record FeatureSpec(
    string Name,
    Func<Random, DayPhase, FeatureValue> Sample,
    FeatureValue? Default = null,
    double DefaultRate = 0)
{
    public static FeatureSpec Numeric(string name, Func<Random, DayPhase, double> sample, double defaultValue, double defaultRate, int decimals = 3) =>
        new(name, (rng, rhythm) => FeatureValue.FromNumber(Math.Round(sample(rng, rhythm), decimals)), FeatureValue.FromNumber(defaultValue), defaultRate);

    public static FeatureSpec Count(string name, Func<Random, DayPhase, int> sample, double defaultValue, double defaultRate) =>
        new(name, (rng, rhythm) => FeatureValue.FromNumber(sample(rng, rhythm)), FeatureValue.FromNumber(defaultValue), defaultRate);

    public static FeatureSpec Flag(string name, double probabilityOfTrue) =>
        new(name, (rng, _) => FeatureValue.FromBoolean(rng.NextBoolean(probabilityOfTrue)));

    /// <summary>A categorical string feature with a skewed mix given as (value, weight) pairs.</summary>
    public static FeatureSpec Category(string name, IReadOnlyList<(string Value, double Weight)> mix, string? defaultValue = null, double defaultRate = 0)
    {
        var weights = mix.Select(m => m.Weight).ToArray();
        var values = mix.Select(m => FeatureValue.FromString(m.Value)).ToArray();
        return new(
            name,
            (rng, _) => values[rng.NextWeighted(weights)],
            defaultValue is null ? null : FeatureValue.FromString(defaultValue),
            defaultValue is null ? 0 : defaultRate);
    }
}
