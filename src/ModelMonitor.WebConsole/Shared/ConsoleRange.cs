using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace ModelMonitor.WebConsole.Shared;

/// <summary>
/// What a page shows, from its query string (so a URL can be shared): <c>range</c> (1h, 6h, 24h, 7d, 30d; default 24h),
/// <c>to</c> (an ISO 8601 instant the range ends at; default now, so a link to a past incident stays on it) and
/// <c>window</c> (a window size in seconds among those stored; default the smallest that fits the point budget).
/// </summary>
public sealed record ConsoleRange(string RangeName, TimeSpan Range, DateTimeOffset To, bool ToGiven, int? RequestedWindow)
{
    /// <summary>Whether <see cref="Clamp"/> shortened the range to the point budget.</summary>
    public bool Clamped { get; init; }

    /// <summary>The range, shortened to its last <paramref name="pointBudget"/> windows when even the chosen size needs more
    /// (only one small window size stored): a chart never draws more than its budget.</summary>
    public ConsoleRange Clamp(int window, int pointBudget) =>
        Range.TotalSeconds / window <= pointBudget ? this : this with { Range = TimeSpan.FromSeconds((double)window * pointBudget), Clamped = true };

    public static readonly IReadOnlyList<(string Name, TimeSpan Span)> Ranges =
    [
        ("1h", TimeSpan.FromHours(1)), ("6h", TimeSpan.FromHours(6)), ("24h", TimeSpan.FromHours(24)),
        ("7d", TimeSpan.FromDays(7)), ("30d", TimeSpan.FromDays(30)),
    ];

    public const string DefaultRange = "24h";

    public DateTimeOffset From => To - Range;

    /// <summary>Parses the query string; an unknown value is an error naming the parameter and what it accepts.</summary>
    public static bool TryParse(IQueryCollection query, DateTimeOffset now, out ConsoleRange range, out string error)
    {
        range = new ConsoleRange(DefaultRange, TimeSpan.FromHours(24), now, false, null);
        error = "";
        var name = query["range"].ToString();
        if (name.Length == 0)
        {
            name = DefaultRange;
        }
        var match = Ranges.FirstOrDefault(r => r.Name == name);
        if (match.Name is null)
        {
            error = $"range: '{Truncate(name)}' is not one of {string.Join(", ", Ranges.Select(r => r.Name))}.";
            return false;
        }
        var to = now;
        var toText = query["to"].ToString();
        if (toText.Length > 0 && !DateTimeOffset.TryParse(toText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out to))
        {
            error = $"to: '{Truncate(toText)}' is not an ISO 8601 instant (e.g. 2026-12-07T15:00:00Z).";
            return false;
        }
        int? window = null;
        var windowText = query["window"].ToString();
        if (windowText.Length > 0)
        {
            if (!int.TryParse(windowText, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds <= 0)
            {
                error = $"window: '{Truncate(windowText)}' is not a window size in seconds (e.g. 60, 300, 3600).";
                return false;
            }
            window = seconds;
        }
        range = new ConsoleRange(match.Name, match.Span, toText.Length > 0 ? to : now, toText.Length > 0, window);
        return true;
    }

    /// <summary>
    /// The window size a chart of this range uses among <paramref name="available"/> (ascending): the requested one if
    /// stored and within <paramref name="pointBudget"/> windows, else the smallest stored size that fits, else the largest.
    /// </summary>
    public int ChooseWindow(IReadOnlyList<int> available, int pointBudget)
    {
        if (available.Count == 0)
        {
            return RequestedWindow ?? 60;
        }
        bool Fits(int seconds) => Range.TotalSeconds / seconds <= pointBudget;
        if (RequestedWindow is { } requested && available.Contains(requested) && Fits(requested))
        {
            return requested;
        }
        var start = RequestedWindow is { } r ? available.Where(s => s >= r) : available;
        return start.Where(Fits).DefaultIfEmpty(available.Where(Fits).DefaultIfEmpty(available[^1]).First()).First();
    }

    private static string Truncate(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
