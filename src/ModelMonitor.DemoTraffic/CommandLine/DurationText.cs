using System.Globalization;

namespace ModelMonitor.DemoTraffic.CommandLine;

/// <summary>Durations as people type them: "500ms", "30s", "2m", "1h", a bare number of seconds, or "off".</summary>
public static class DurationText
{
    /// <summary>Parses <paramref name="text"/>; <paramref name="value"/> is null for "off". False when unreadable.</summary>
    public static bool TryParse(string text, out TimeSpan? value)
    {
        value = null;
        var trimmed = text.Trim().ToLowerInvariant();
        if (trimmed is "off" or "none" or "never")
        {
            return true;
        }

        var (number, unit) = trimmed switch
        {
            _ when trimmed.EndsWith("ms", StringComparison.Ordinal) => (trimmed[..^2], TimeSpan.FromMilliseconds(1)),
            _ when trimmed.EndsWith('s') => (trimmed[..^1], TimeSpan.FromSeconds(1)),
            _ when trimmed.EndsWith('m') => (trimmed[..^1], TimeSpan.FromMinutes(1)),
            _ when trimmed.EndsWith('h') => (trimmed[..^1], TimeSpan.FromHours(1)),
            _ => (trimmed, TimeSpan.FromSeconds(1)),
        };
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) || !double.IsFinite(amount) || amount < 0 || amount > 1e7)
        {
            return false;
        }

        value = unit * amount;
        return true;
    }
}
