using ModelMonitor.DemoTraffic.Running;
using ModelMonitor.DemoTraffic.Scenarios;
using ModelMonitor.DemoTraffic.Sending;

namespace ModelMonitor.DemoTraffic.Tests;

public sealed class LatencyHistogramTests
{
    [Theory]
    [InlineData(0.5)]
    [InlineData(0.9)]
    [InlineData(0.99)]
    public void Quantiles_are_within_one_percent_of_the_exact_nearest_rank_value(double q)
    {
        var rng = new Random(5);
        var histogram = new LatencyHistogram();
        var exact = new List<double>();
        for (var i = 0; i < 50_000; i++)
        {
            var ms = rng.NextLogNormal(3, 1.2);
            exact.Add(ms);
            histogram.Record(TimeSpan.FromMilliseconds(ms));
        }

        exact.Sort();
        var expected = exact[(int)Math.Ceiling(q * exact.Count) - 1];
        var actual = histogram.QuantileMilliseconds(q)!.Value;

        // TimeSpan keeps 100 ns ticks, well below 1% of these values.
        Assert.InRange(actual, expected * 0.99, expected * 1.01);
    }

    [Fact]
    public void Drain_moves_the_interval_out_and_starts_empty()
    {
        var histogram = new LatencyHistogram();
        histogram.Record(TimeSpan.FromMilliseconds(4));
        histogram.Record(TimeSpan.FromMilliseconds(9));

        var drained = histogram.Drain();

        Assert.Equal(2, drained.Count);
        Assert.Equal(0, histogram.Count);
        Assert.Null(histogram.QuantileMilliseconds(0.5));
        Assert.Equal(9, drained.Max.TotalMilliseconds, 3);
    }

    [Fact]
    public void The_live_rate_plan_integrates_its_rate_and_averages_to_the_mean_over_a_day()
    {
        var plan = new LiveRatePlan(200, TimeSpan.FromMinutes(10));

        Assert.Equal(200 * 600, plan.RecordsDueBy(TimeSpan.FromMinutes(10)), 6);
        for (var s = 0.0; s < 600; s += 37)
        {
            var slope = (plan.RecordsDueBy(TimeSpan.FromSeconds(s + 0.001)) - plan.RecordsDueBy(TimeSpan.FromSeconds(s))) / 0.001;
            Assert.Equal(plan.RateAt(TimeSpan.FromSeconds(s)), slope, 0.1);
        }

        Assert.Equal(200 * (1 + LiveRatePlan.Amplitude), plan.RateAt(TimeSpan.FromMinutes(2.5)), 6);
    }

    [Fact]
    public void Live_traffic_starts_at_noon_of_the_demo_day()
    {
        Assert.Equal(12, DayPhase.OfDemoDay(TimeSpan.Zero, TimeSpan.FromMinutes(10)).HourOfDay);
        Assert.Equal(18, DayPhase.OfDemoDay(TimeSpan.FromMinutes(2.5), TimeSpan.FromMinutes(10)).HourOfDay);
        Assert.Equal(1, DayPhase.OfDemoDay(TimeSpan.FromMinutes(2.5), TimeSpan.FromMinutes(10)).Rhythm, 6);
    }
}
