using System.Globalization;

namespace ModelMonitor.Core.Contracts;

/// <summary>What an actual outcome holds: a number (regression), a string label (classes) or a boolean (binary).</summary>
public enum ActualKind : byte
{
    Number,
    Label,
    Boolean,
}

/// <summary>The actual value of an outcome. <see cref="Number"/> is the number, or 1 / 0 for true / false.</summary>
public readonly record struct ActualValue(ActualKind Kind, double Number, string? Label)
{
    public static ActualValue Of(double number) => new(ActualKind.Number, number, null);

    public static ActualValue Of(string label) => new(ActualKind.Label, 0, label);

    public static ActualValue Of(bool value) => new(ActualKind.Boolean, value ? 1 : 0, null);

    /// <summary>The value as a class name: a label as it is, a boolean as "true"/"false", a number in invariant
    /// round-trip form (2 → "2", 0.5 → "0.5"), as prediction_result is read as a class.</summary>
    public string AsClass() => Kind switch
    {
        ActualKind.Label => Label!,
        ActualKind.Boolean => Number == 1 ? "true" : "false",
        _ => Number.ToString("R", CultureInfo.InvariantCulture),
    };

    public override string ToString() => Kind == ActualKind.Number ? AsClass() : Kind == ActualKind.Boolean ? AsClass() : $"\"{Label}\"";
}

/// <summary>
/// An actual outcome (a late label): what really happened for the object a prediction was made for. It belongs to a
/// (predictor_name, prediction_id) and applies to every model of that predictor that predicted that prediction_id.
/// </summary>
public sealed record Outcome(string PredictorName, string PredictionId, ActualValue Actual, DateTimeOffset ObservedAt);
