using ModelMonitor.Core.Contracts;
using ModelMonitor.DemoTraffic.Scenarios;

namespace ModelMonitor.DemoTraffic.Tests;

/// <summary>Live records from a seeded generator at a fixed time, as the tests need them.</summary>
internal static class RecordSamples
{
    public static readonly DateTimeOffset Now = new(2026, 11, 22, 3, 4, 5, 123, TimeSpan.Zero);
    public static readonly TimeSpan DemoDay = TimeSpan.FromMinutes(10);

    public static List<PredictionLog> Live(int predictions, int seed = 7, IncidentSchedule? incidents = null, TimeSpan? elapsed = null, string runId = "r1")
    {
        var generator = new TrafficGenerator(seed, runId, incidents ?? IncidentSchedule.None);
        var records = new List<PredictionLog>();
        for (var i = 0; i < predictions; i++)
        {
            var at = elapsed ?? TimeSpan.FromSeconds(i * 0.01);
            generator.NextLive(Now + at, at, DemoDay, records);
        }

        return records;
    }

    public static FeatureValue? Feature(PredictionLog record, string name) =>
        record.Features.Where(f => f.Key == name).Select(f => (FeatureValue?)f.Value).FirstOrDefault();
}
