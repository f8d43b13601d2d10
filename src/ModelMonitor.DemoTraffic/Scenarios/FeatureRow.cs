using ModelMonitor.Core.Contracts;

namespace ModelMonitor.DemoTraffic.Scenarios;

/// <summary>The feature values a model saw for one prediction, looked up by name.</summary>
public sealed class FeatureRow
{
    private readonly Dictionary<string, FeatureValue> _values;

    public FeatureRow(Dictionary<string, FeatureValue> values) => _values = values;

    /// <summary>
    /// The number a model computes with: booleans as 1/0, and anything absent, null, text or non-finite
    /// as <paramref name="fallback"/> (as a model would impute it).
    /// </summary>
    public double Number(string name, double fallback = 0)
    {
        if (!_values.TryGetValue(name, out var value))
        {
            return fallback;
        }

        return value.Kind == FeatureValueKind.Number
            ? (double.IsFinite(value.Number) ? value.Number : fallback)
            : value.IsNull || value.Text is not null ? fallback : value.Number;
    }

    public string? Text(string name) => _values.TryGetValue(name, out var value) ? value.Text : null;
}
