namespace ModelMonitor.DemoTraffic.Running;

/// <summary>
/// How many records live traffic should have produced after a given time: the rate follows the demo
/// day, rate(t) = R·(1 + A·sin(2πt/P)), starting at noon of the demo day (rhythm 0 and rising to the
/// evening peak). Integrated in closed form so pacing never drifts:
/// N(t) = R·(t + A·P/(2π)·(1 − cos(2πt/P))).
/// </summary>
public sealed class LiveRatePlan
{
    /// <summary>The rate swings ±35% around its mean over a demo day.</summary>
    public const double Amplitude = 0.35;

    private readonly double _rate;
    private readonly double _periodSeconds;

    public LiveRatePlan(double ratePerSecond, TimeSpan demoDay)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ratePerSecond);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(demoDay, TimeSpan.Zero);
        _rate = ratePerSecond;
        _periodSeconds = demoDay.TotalSeconds;
    }

    public double RecordsDueBy(TimeSpan elapsed)
    {
        var t = elapsed.TotalSeconds;
        return _rate * (t + (Amplitude * _periodSeconds / (2 * Math.PI) * (1 - Math.Cos(2 * Math.PI * t / _periodSeconds))));
    }

    public double RateAt(TimeSpan elapsed) => _rate * (1 + (Amplitude * Math.Sin(2 * Math.PI * elapsed.TotalSeconds / _periodSeconds)));
}
