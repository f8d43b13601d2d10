using System.Globalization;
using System.Text.RegularExpressions;

namespace ModelMonitor.WebConsole.Shared;

/// <summary>
/// A query as the console runs it (with parameters) and as it shows it (with the same values written as SQL literals, so a
/// reader can paste it into psql). The literals are for display only: no query is ever built from request text.
/// </summary>
public static partial class SqlText
{
    public static string WithLiterals(string sql, IReadOnlyDictionary<string, object?> parameters) =>
        Parameter().Replace(sql, match => parameters.TryGetValue(match.Groups[1].Value, out var value) ? Literal(value) : match.Value);

    public static string Literal(object? value) => value switch
    {
        null => "NULL",
        string text => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'",
        DateTime time => $"timestamptz '{time.ToUniversalTime():yyyy-MM-dd HH:mm:ss}+00'",
        DateTimeOffset time => $"timestamptz '{time.UtcDateTime:yyyy-MM-dd HH:mm:ss}+00'",
        IFormattable number => number.ToString(null, CultureInfo.InvariantCulture),
        string[] texts => "ARRAY[" + string.Join(", ", texts.Select(Literal)) + "]::text[]",
        _ => "'" + value.ToString()!.Replace("'", "''", StringComparison.Ordinal) + "'",
    };

    [GeneratedRegex("@([A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex Parameter();
}
