namespace ModelMonitor.Core.Security;

/// <summary>
/// The predictors a key may write: glob patterns over predictor_name, <c>*</c> for any run of characters (the empty one
/// included) and <c>?</c> for one character, everything else literal and case-sensitive (predictor names are). A name
/// matches when any pattern matches all of it. <c>*</c> alone allows every predictor.
/// </summary>
public sealed class PredictorPatterns
{
    public const int MaxPatternLength = 200;

    public static PredictorPatterns Any { get; } = new(["*"]);

    private readonly string[] _patterns;
    private readonly bool _any;

    public PredictorPatterns(IEnumerable<string> patterns)
    {
        _patterns = [.. patterns];
        _any = _patterns.Contains("*");
    }

    public IReadOnlyList<string> Patterns => _patterns;

    public bool AllowsAll => _any;

    /// <summary>Reads a comma-separated list; the error says which pattern is not allowed and why.</summary>
    public static PredictorPatterns Parse(string text, out string? error)
    {
        var patterns = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct(StringComparer.Ordinal).ToList();
        error = patterns.Count == 0 ? "at least one predictor pattern is needed ('*' for every predictor)"
            : patterns.FirstOrDefault(p => p.Length > MaxPatternLength) is { } tooLong ? $"predictor pattern '{tooLong[..20]}…' is longer than {MaxPatternLength} characters"
            : patterns.FirstOrDefault(p => p.Any(char.IsControl)) is not null ? "a predictor pattern holds a control character"
            : null;
        return new PredictorPatterns(patterns);
    }

    public bool Allows(string predictorName)
    {
        if (_any)
        {
            return true;
        }
        foreach (var pattern in _patterns)
        {
            if (Matches(pattern, predictorName))
            {
                return true;
            }
        }
        return false;
    }

    public override string ToString() => string.Join(",", _patterns);

    /// <summary>Glob match in O(pattern × name) at worst: the classic greedy walk that backtracks to the last <c>*</c> only.</summary>
    internal static bool Matches(ReadOnlySpan<char> pattern, ReadOnlySpan<char> name)
    {
        int p = 0, n = 0, star = -1, resume = 0;
        while (n < name.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == name[n]))
            {
                p++;
                n++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                resume = n;
            }
            else if (star >= 0)
            {
                p = star + 1;
                n = ++resume;
            }
            else
            {
                return false;
            }
        }
        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }
        return p == pattern.Length;
    }
}
