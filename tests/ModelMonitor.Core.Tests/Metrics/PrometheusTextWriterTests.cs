using System.Buffers;
using System.Text;
using ModelMonitor.Core.Metrics;

namespace ModelMonitor.Core.Tests.Metrics;

public sealed class PrometheusTextWriterTests
{
    private static string Render(Action<PrometheusTextWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(new PrometheusTextWriter(buffer));
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    [Fact]
    public void Label_values_escape_backslash_quote_and_newline_only()
    {
        var text = Render(w => w.WriteSample("m", ["feature"], ["a\\b\"c\nd\té"], 1));

        Assert.Equal("m{feature=\"a\\\\b\\\"c\\nd\té\"} 1\n", text);
    }

    [Fact]
    public void Help_escapes_backslash_and_newline_but_not_quotes()
    {
        var text = Render(w => w.WriteFamilyHeader("m_total", "Counts \"things\"\\\nnext", MetricType.Counter));

        Assert.Equal("# HELP m_total Counts \"things\"\\\\\\nnext\n# TYPE m_total counter\n", text);
    }

    [Theory]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NegativeInfinity, "-Inf")]
    [InlineData(0.1, "0.1")]
    [InlineData(-2.5e-10, "-2.5E-10")]
    [InlineData(1234567890123.0, "1234567890123")]
    public void Values_use_the_formats_Prometheus_parses(double value, string expected)
    {
        Assert.Equal($"m {expected}\n", Render(w => w.WriteSample("m", value)));
    }

    [Fact]
    public void A_registry_renders_counters_gauges_and_cumulative_histograms()
    {
        var registry = new MetricsRegistry();
        var requests = registry.CreateCounter("requests_total", "Requests.", "route", "status");
        var temperature = registry.CreateGauge("temperature_celsius", "Temperature.");
        var latency = registry.CreateHistogram("latency_seconds", "Latency.", [0.1, 1]);
        requests.WithLabels("/b", "200").Inc();
        requests.WithLabels("/a", "500").Inc(2);
        requests.WithLabels("/b", "200").Inc();
        temperature.Set(-3.5);
        latency.Observe(0.1); // le is inclusive
        latency.Observe(0.5);
        latency.Observe(7);

        var text = Encoding.UTF8.GetString(registry.Render());

        Assert.Equal("""
            # HELP requests_total Requests.
            # TYPE requests_total counter
            requests_total{route="/a",status="500"} 2
            requests_total{route="/b",status="200"} 2
            # HELP temperature_celsius Temperature.
            # TYPE temperature_celsius gauge
            temperature_celsius -3.5
            # HELP latency_seconds Latency.
            # TYPE latency_seconds histogram
            latency_seconds_bucket{le="0.1"} 1
            latency_seconds_bucket{le="1"} 2
            latency_seconds_bucket{le="+Inf"} 3
            latency_seconds_sum 7.6
            latency_seconds_count 3

            """.Replace("\r\n", "\n", StringComparison.Ordinal), text);
    }

    [Fact]
    public void Collectors_add_series_computed_at_scrape_time()
    {
        var registry = new MetricsRegistry();
        var calls = 0;
        registry.AddCollector(w =>
        {
            calls++;
            w.WriteFamilyHeader("lag", "Lag.", MetricType.Gauge);
            w.WriteSample("lag", ["partition"], ["3"], calls);
        });

        registry.Render();
        var text = Encoding.UTF8.GetString(registry.Render());

        Assert.EndsWith("lag{partition=\"3\"} 2\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_names_and_misuse_are_refused()
    {
        var registry = new MetricsRegistry();
        Assert.Throws<ArgumentException>(() => registry.CreateCounter("bad-name", "x"));
        Assert.Throws<ArgumentException>(() => registry.CreateCounter("ok", "x", "__reserved"));
        Assert.Throws<ArgumentException>(() => registry.CreateHistogram("h", "x", [1, 1]));
        var counter = registry.CreateCounter("c_total", "x", "a");
        Assert.Throws<InvalidOperationException>(() => registry.CreateGauge("c_total", "x"));
        Assert.Throws<ArgumentException>(() => counter.WithLabels("1", "2"));
        Assert.Throws<ArgumentOutOfRangeException>(() => counter.WithLabels("1").Inc(-1));
    }

    [Fact]
    public void Concurrent_increments_are_not_lost()
    {
        var registry = new MetricsRegistry();
        var counter = registry.CreateCounter("c_total", "x");
        var histogram = registry.CreateHistogram("h", "x", [1]);

        Parallel.For(0, 100_000, _ =>
        {
            counter.Inc();
            histogram.Observe(0.5);
        });

        Assert.Equal(100_000, counter.Value);
        Assert.Contains("h_count 100000\n", Encoding.UTF8.GetString(registry.Render()), StringComparison.Ordinal);
    }
}
