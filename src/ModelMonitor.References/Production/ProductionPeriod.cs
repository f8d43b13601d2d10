namespace ModelMonitor.References.Production;

/// <summary>
/// Which period a model's production reference describes, and when it is rebuilt (pure: README "Drift").
/// Normally the <c>period</c> ending <c>lag</c> before now, on whole hours, rebuilt once it is <c>rebuildAge</c> old. A
/// model younger than lag + period uses what exists: the first half of its life so far (from its first hour, in whole
/// hours), so the recent windows being judged are not in their own reference; such a
/// reference is rebuilt at every check while the model is young, and grows with it. Under two hours old: none yet.
/// </summary>
public static class ProductionPeriod
{
    public static (DateTimeOffset From, DateTimeOffset To, bool Young) Of(DateTimeOffset firstSeen, DateTimeOffset now, TimeSpan period, TimeSpan lag)
    {
        var end = FloorHour(now - lag);
        var start = end - period;
        var first = FloorHour(firstSeen);
        if (first <= start)
        {
            return (start, end, false);
        }

        return (first, FloorHour(first + ((now - first) / 2)), true);
    }

    /// <summary>Whether a reference built at <paramref name="builtAt"/> (null: none) is rebuilt now.</summary>
    public static bool Due(DateTimeOffset? builtAt, bool young, DateTimeOffset now, TimeSpan rebuildAge, TimeSpan checkInterval) =>
        builtAt is not { } built || now - built >= (young ? checkInterval : rebuildAge);

    private static DateTimeOffset FloorHour(DateTimeOffset time) =>
        DateTimeOffset.FromUnixTimeSeconds(time.ToUnixTimeSeconds() - (((time.ToUnixTimeSeconds() % 3600) + 3600) % 3600));
}
