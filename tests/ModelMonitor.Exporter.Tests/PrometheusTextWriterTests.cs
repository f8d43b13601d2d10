using System.Buffers;
using System.Text;
using ModelMonitor.Exporter.Text;

namespace ModelMonitor.Exporter.Tests;

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
}
