using System.Globalization;

namespace ModelMonitor.Core.Contracts;

/// <summary>What kind of value a feature carried in one prediction log.</summary>
public enum FeatureValueKind : byte
{
    Null = 0,
    Number = 1,
    Text = 2,
    Logical = 3,
}

/// <summary>
/// One feature value as the model saw it: a number (possibly NaN or ±Infinity), a string,
/// a boolean, or null. Strings and booleans are categorical.
/// </summary>
public readonly record struct FeatureValue
{
    private FeatureValue(FeatureValueKind kind, double number, string? text)
    {
        Kind = kind;
        Number = number;
        Text = text;
    }

    public FeatureValueKind Kind { get; }

    /// <summary>The number, for <see cref="FeatureValueKind.Number"/>; 1 or 0 for booleans (<see cref="FeatureValueKind.Logical"/>).</summary>
    public double Number { get; }

    /// <summary>The string, for <see cref="FeatureValueKind.Text"/>.</summary>
    public string? Text { get; }

    public static FeatureValue Null { get; } = new(FeatureValueKind.Null, 0, null);

    public static FeatureValue FromNumber(double value) => new(FeatureValueKind.Number, value, null);

    public static FeatureValue FromString(string value) => new(FeatureValueKind.Text, 0, value);

    public static FeatureValue FromBoolean(bool value) => new(FeatureValueKind.Logical, value ? 1 : 0, null);

    public bool IsNull => Kind == FeatureValueKind.Null;

    /// <summary>True for string and boolean values, which are counted per distinct value.</summary>
    public bool IsCategorical => Kind is FeatureValueKind.Text or FeatureValueKind.Logical;

    public bool IsTrue => Kind == FeatureValueKind.Logical && Number != 0;

    /// <summary>The category label of a categorical value: the string itself, or "true"/"false".</summary>
    public string CategoryLabel => Kind switch
    {
        FeatureValueKind.Text => Text!,
        FeatureValueKind.Logical => Number != 0 ? "true" : "false",
        _ => throw new InvalidOperationException($"A {Kind} value has no category label."),
    };

    public override string ToString() => Kind switch
    {
        FeatureValueKind.Null => "null",
        FeatureValueKind.Number => Number.ToString("R", CultureInfo.InvariantCulture),
        FeatureValueKind.Text => Text!,
        FeatureValueKind.Logical => IsTrue ? "true" : "false",
        _ => Kind.ToString(),
    };
}
