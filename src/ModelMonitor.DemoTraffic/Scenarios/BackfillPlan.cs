using ModelMonitor.Core.Contracts;

namespace ModelMonitor.DemoTraffic.Scenarios;

/// <summary>
/// History to send before live traffic, so the hourly tables have data from the start: for each of the
/// last <see cref="Hours"/> hours, <see cref="PredictionsPerHour"/> predictions per predictor (so as many
/// records per model) at random times within the hour, in time order. No incidents in history.
/// </summary>
public sealed class BackfillPlan
{
    /// <summary>The API rejects sent_at older than 7 days; one hour of margin for the time the backfill takes.</summary>
    public const int MaxHours = (7 * 24) - 1;

    public BackfillPlan(int hours, int predictionsPerHour)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(hours);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(hours, MaxHours);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(predictionsPerHour);
        Hours = hours;
        PredictionsPerHour = predictionsPerHour;
    }

    public int Hours { get; }

    public int PredictionsPerHour { get; }

    /// <summary>Records with sent_at in [now - Hours, now), oldest first.</summary>
    public IEnumerable<PredictionLog> Records(TrafficGenerator generator, DateTimeOffset now, int seed)
    {
        // Timestamps come from their own stream so the records themselves match the generator's seed.
        var clock = new Random(unchecked(seed * 31) + 7);
        var windowStart = now - TimeSpan.FromHours(Hours);
        var buffer = new List<PredictionLog>(2);
        var slots = new List<(DateTimeOffset At, PredictorScenario Scenario)>();
        for (var hour = 0; hour < Hours; hour++)
        {
            var hourStart = windowStart + TimeSpan.FromHours(hour);
            slots.Clear();
            foreach (var scenario in generator.Scenarios)
            {
                for (var i = 0; i < PredictionsPerHour; i++)
                {
                    var at = hourStart + TimeSpan.FromMilliseconds(Math.Floor(clock.NextDouble() * 3_600_000));
                    slots.Add((at < now ? at : now - TimeSpan.FromMilliseconds(1), scenario));
                }
            }

            slots.Sort((a, b) => a.At.CompareTo(b.At));
            foreach (var (at, scenario) in slots)
            {
                buffer.Clear();
                generator.Next(scenario, at, DayPhase.OfClock(at), liveElapsed: null, buffer);
                foreach (var record in buffer)
                {
                    yield return record;
                }
            }
        }
    }

    public long TotalRecords(IReadOnlyList<PredictorScenario> scenarios) =>
        (long)Hours * PredictionsPerHour * scenarios.Sum(s => s.RecordsPerPrediction);
}
