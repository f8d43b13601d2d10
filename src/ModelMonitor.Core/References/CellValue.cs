using System.Globalization;
using ModelMonitor.Core.Contracts;

namespace ModelMonitor.Core.References;

/// <summary>
/// How a text cell of an uploaded reference (CSV) becomes a value: empty is missing; a number (invariant culture,
/// exponent allowed) is a number; <c>NaN</c>, <c>inf</c>, <c>+inf</c>, <c>-inf</c>, <c>Infinity</c>, <c>-Infinity</c> (any
/// case) are non-finite numbers; <c>true</c> / <c>false</c> (any case: pandas writes <c>True</c>) are booleans; anything
/// else is a category. Categories follow the ingestion API's rules: at most <see cref="IngestionLimits.MaxStringValueLength"/>
/// characters, no U+0000 (Postgres cannot store it).
/// </summary>
public static class CellValue
{
    public enum Kind
    {
        Missing,
        Number,
        Boolean,
        Category,
    }

    /// <summary>Classifies <paramref name="cell"/>; a number or boolean in <paramref name="number"/> (booleans 1 / 0).
    /// Returns the problem with the cell when it cannot be stored, else null.</summary>
    public static string? Classify(ReadOnlySpan<char> cell, int maxLength, out Kind kind, out double number)
    {
        number = 0;
        if (cell.IsEmpty)
        {
            kind = Kind.Missing;
            return null;
        }

        if (double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out number))
        {
            kind = Kind.Number;
            return null;
        }

        if (NonFinite(cell) is { } nonFinite)
        {
            number = nonFinite;
            kind = Kind.Number;
            return null;
        }

        if (cell.Equals("true", StringComparison.OrdinalIgnoreCase) || cell.Equals("false", StringComparison.OrdinalIgnoreCase))
        {
            number = cell.Length == 4 ? 1 : 0;
            kind = Kind.Boolean;
            return null;
        }

        kind = Kind.Category;
        if (cell.Length > maxLength)
        {
            return $"a category of {cell.Length} characters is longer than the limit of {maxLength}";
        }

        return cell.Contains('\0') ? "U+0000 cannot be stored" : null;
    }

    private static double? NonFinite(ReadOnlySpan<char> cell)
    {
        var negative = cell[0] == '-';
        var body = cell[0] is '-' or '+' ? cell[1..] : cell;
        if (body.Equals("inf", StringComparison.OrdinalIgnoreCase) || body.Equals("infinity", StringComparison.OrdinalIgnoreCase))
        {
            return negative ? double.NegativeInfinity : double.PositiveInfinity;
        }

        return cell.Equals("nan", StringComparison.OrdinalIgnoreCase) ? double.NaN : null;
    }

    /// <summary>The value <paramref name="kind"/> and <paramref name="number"/> stand for (categories need their text).</summary>
    public static FeatureValue ToValue(Kind kind, double number, string? category) => kind switch
    {
        Kind.Number => FeatureValue.FromNumber(number),
        Kind.Boolean => FeatureValue.FromBoolean(number != 0),
        Kind.Category => FeatureValue.FromString(category ?? throw new ArgumentNullException(nameof(category))),
        _ => FeatureValue.Null,
    };
}
