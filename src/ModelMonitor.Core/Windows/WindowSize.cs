using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace ModelMonitor.Core.Windows;

/// <summary>
/// The size of a tumbling event-time window, e.g. "5m" or "1h". Windows are aligned to the Unix epoch
/// in UTC: a window of size s starts at every multiple of s seconds since 1970-01-01T00:00:00Z.
/// </summary>
public readonly record struct WindowSize : IComparable<WindowSize>
{
    /// <summary>The largest window: 366 days (also keeps window_seconds well inside a Postgres integer).</summary>
    public const int MaxSeconds = 366 * 86_400;

    private static readonly (char Unit, int Seconds)[] Units = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

    public WindowSize(int seconds)
    {
        if (seconds < 1 || seconds > MaxSeconds)
        {
            throw new ArgumentOutOfRangeException(nameof(seconds), seconds, $"A window is 1 to {MaxSeconds} seconds long.");
        }

        Seconds = seconds;
    }

    public int Seconds { get; }

    public TimeSpan Duration => TimeSpan.FromSeconds(Seconds);

    /// <summary>Parses "30s", "5m", "1h", "1d" (a positive whole number and one unit letter).</summary>
    public static WindowSize Parse(string text) =>
        TryParse(text, out var size, out var error) ? size : throw new FormatException(error);

    public static bool TryParse(string? text, out WindowSize size, [NotNullWhen(false)] out string? error)
    {
        size = default;
        var trimmed = text?.Trim() ?? "";
        if (trimmed.Length < 2)
        {
            error = $"'{text}' is not a window size: expected a number and a unit, e.g. 30s, 5m, 1h, 1d.";
            return false;
        }

        var unit = Array.FindIndex(Units, u => u.Unit == char.ToLowerInvariant(trimmed[^1]));
        if (unit < 0 || !long.TryParse(trimmed.AsSpan(0, trimmed.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var amount))
        {
            error = $"'{text}' is not a window size: expected a number and a unit (s, m, h or d), e.g. 5m.";
            return false;
        }

        var seconds = amount * Units[unit].Seconds;
        if (seconds < 1 || seconds > MaxSeconds)
        {
            error = $"Window size '{text}' is out of range: 1s to 366d.";
            return false;
        }

        size = new WindowSize((int)seconds);
        error = null;
        return true;
    }

    /// <summary>Parses a comma-separated list such as "5m,1h"; duplicates are removed, result ascending.</summary>
    public static IReadOnlyList<WindowSize> ParseList(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sizes = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Parse).Distinct().Order().ToList();
        if (sizes.Count == 0)
        {
            throw new FormatException("At least one window size is needed, e.g. \"5m,1h\".");
        }

        return sizes;
    }

    /// <summary>The first instant of the window holding <paramref name="time"/> (floor division, UTC).</summary>
    public DateTimeOffset WindowStart(DateTimeOffset time)
    {
        var ticks = time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        var size = Seconds * TimeSpan.TicksPerSecond;
        // Floor, not truncation, so instants before 1970 also land in the window that contains them.
        var start = ticks - (((ticks % size) + size) % size);
        return new DateTimeOffset(DateTimeOffset.UnixEpoch.UtcTicks + start, TimeSpan.Zero);
    }

    /// <summary>The shortest label: the largest unit that divides the size, e.g. 5400 s → "90m".</summary>
    public override string ToString()
    {
        foreach (var (unit, seconds) in Units)
        {
            if (Seconds % seconds == 0)
            {
                return string.Create(CultureInfo.InvariantCulture, $"{Seconds / seconds}{unit}");
            }
        }

        return string.Create(CultureInfo.InvariantCulture, $"{Seconds}s");
    }

    public int CompareTo(WindowSize other) => Seconds.CompareTo(other.Seconds);

    public static bool operator <(WindowSize left, WindowSize right) => left.CompareTo(right) < 0;

    public static bool operator >(WindowSize left, WindowSize right) => left.CompareTo(right) > 0;

    public static bool operator <=(WindowSize left, WindowSize right) => left.CompareTo(right) <= 0;

    public static bool operator >=(WindowSize left, WindowSize right) => left.CompareTo(right) >= 0;
}
