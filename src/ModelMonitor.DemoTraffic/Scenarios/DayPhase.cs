namespace ModelMonitor.DemoTraffic.Scenarios;

/// <summary>
/// Where in its day a prediction falls, as a fraction of the day in [0, 1). Live traffic compresses a day
/// into a short "demo day" period; backfilled history uses the real UTC time of day.
/// </summary>
public readonly record struct DayPhase
{
    public DayPhase(double fraction)
    {
        var wrapped = fraction - Math.Floor(fraction);
        Fraction = wrapped >= 1 ? 0 : wrapped;
    }

    public double Fraction { get; }

    /// <summary>
    /// The daily rhythm in [-1, 1]: a sine with its low at 06:00 and its peak at 18:00 (the dinner rush).
    /// Rates and busy-ness features scale with it.
    /// </summary>
    public double Rhythm => Math.Sin(2 * Math.PI * (Fraction - 0.5));

    public int HourOfDay => (int)(Fraction * 24);

    /// <summary>Live traffic starts at noon of its first demo day.</summary>
    public static DayPhase OfDemoDay(TimeSpan elapsed, TimeSpan demoDay) => new(0.5 + (elapsed / demoDay));

    public static DayPhase OfClock(DateTimeOffset time) => new(time.UtcDateTime.TimeOfDay / TimeSpan.FromDays(1));
}
