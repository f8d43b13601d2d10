using System.Buffers;
using System.Globalization;
using System.Text;

namespace ModelMonitor.Exporter.Text;

/// <summary>
/// Writes the Prometheus text exposition format, version 0.0.4, as UTF-8 into a buffer. The statistics are rendered
/// with this once per refresh and served as bytes: prometheus-net gauges were measured side by side and lost at
/// 300k series (scrape p99 1.5 s, more memory: BENCHMARKS.md), and prometheus-net cannot serve raw text.
/// Format reference: https://prometheus.io/docs/instrumenting/exposition_formats/
/// </summary>
public sealed class PrometheusTextWriter
{
    /// <summary>The Content-Type of the text exposition format.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly IBufferWriter<byte> _output;
    private readonly Encoder _encoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetEncoder();

    public PrometheusTextWriter(IBufferWriter<byte> output) => _output = output;

    /// <summary>Writes the HELP and TYPE lines that open a metric family.</summary>
    public void WriteFamilyHeader(string name, string help, MetricType type)
    {
        // The space after the metric name in HELP is mandatory; help text escapes only \ and newline.
        WriteAscii("# HELP ");
        WriteAscii(name);
        WriteByte((byte)' ');
        WriteEscaped(help, escapeQuotes: false);
        WriteAscii("\n# TYPE ");
        WriteAscii(name);
        WriteByte((byte)' ');
        WriteAscii(type switch
        {
            MetricType.Counter => "counter",
            MetricType.Gauge => "gauge",
            MetricType.Histogram => "histogram",
            _ => "untyped",
        });
        WriteByte((byte)'\n');
    }

    /// <summary>Writes one sample line without labels.</summary>
    public void WriteSample(string name, double value) => WriteSample(name, [], [], value);

    /// <summary>
    /// Writes one sample line. <paramref name="labelNames"/> and <paramref name="labelValues"/> are parallel;
    /// label values may hold any text and are escaped here.
    /// </summary>
    public void WriteSample(string name, ReadOnlySpan<string> labelNames, ReadOnlySpan<string> labelValues, double value)
    {
        WriteSampleStart(name, labelNames, labelValues);
        WriteSampleEnd(value);
    }

    /// <summary>Like <see cref="WriteSample(string, ReadOnlySpan{string}, ReadOnlySpan{string}, double)"/>,
    /// with one more label appended (used for le= of histograms and quantile= of summaries).</summary>
    public void WriteSample(string name, ReadOnlySpan<string> labelNames, ReadOnlySpan<string> labelValues,
        string extraLabelName, string extraLabelValue, double value)
    {
        WriteAscii(name);
        WriteByte((byte)'{');
        for (var i = 0; i < labelNames.Length; i++)
        {
            WriteLabel(labelNames[i], labelValues[i]);
            WriteByte((byte)',');
        }
        WriteLabel(extraLabelName, extraLabelValue);
        WriteByte((byte)'}');
        WriteSampleEnd(value);
    }

    private void WriteSampleStart(string name, ReadOnlySpan<string> labelNames, ReadOnlySpan<string> labelValues)
    {
        if (labelNames.Length != labelValues.Length)
        {
            throw new ArgumentException($"{labelNames.Length} label names but {labelValues.Length} values for {name}.");
        }
        WriteAscii(name);
        if (labelNames.Length == 0)
        {
            return;
        }
        WriteByte((byte)'{');
        for (var i = 0; i < labelNames.Length; i++)
        {
            if (i > 0)
            {
                WriteByte((byte)',');
            }
            WriteLabel(labelNames[i], labelValues[i]);
        }
        WriteByte((byte)'}');
    }

    private void WriteLabel(string labelName, string labelValue)
    {
        WriteAscii(labelName);
        WriteAscii("=\"");
        WriteEscaped(labelValue, escapeQuotes: true);
        WriteByte((byte)'"');
    }

    private void WriteSampleEnd(double value)
    {
        WriteByte((byte)' ');
        WriteValue(value);
        WriteByte((byte)'\n');
    }

    /// <summary>Values are Go ParseFloat-compatible: NaN, +Inf, -Inf, or the shortest round-trip form.</summary>
    private void WriteValue(double value)
    {
        if (double.IsNaN(value))
        {
            WriteAscii("NaN");
        }
        else if (double.IsPositiveInfinity(value))
        {
            WriteAscii("+Inf");
        }
        else if (double.IsNegativeInfinity(value))
        {
            WriteAscii("-Inf");
        }
        else
        {
            var span = _output.GetSpan(32);
            if (!value.TryFormat(span, out var written, "R", CultureInfo.InvariantCulture))
            {
                throw new InvalidOperationException("A double did not fit in 32 bytes.");
            }
            _output.Advance(written);
        }
    }

    /// <summary>Escapes \ and newline (and " inside label values) as the text format requires.</summary>
    private void WriteEscaped(string text, bool escapeQuotes)
    {
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            string? escape = c switch
            {
                '\\' => "\\\\",
                '\n' => "\\n",
                '"' when escapeQuotes => "\\\"",
                _ => null,
            };
            if (escape is null)
            {
                continue;
            }
            WriteUtf8(text.AsSpan(start, i - start));
            WriteAscii(escape);
            start = i + 1;
        }
        WriteUtf8(text.AsSpan(start));
    }

    private void WriteUtf8(ReadOnlySpan<char> chars)
    {
        if (chars.IsEmpty)
        {
            return;
        }
        var max = Encoding.UTF8.GetMaxByteCount(chars.Length);
        var span = _output.GetSpan(max);
        // A lone surrogate in a label value is replaced (U+FFFD) rather than producing invalid UTF-8.
        var written = _encoder.GetBytes(chars, span, flush: true);
        _output.Advance(written);
    }

    private void WriteAscii(string text)
    {
        var span = _output.GetSpan(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            span[i] = (byte)text[i];
        }
        _output.Advance(text.Length);
    }

    private void WriteByte(byte b)
    {
        _output.GetSpan(1)[0] = b;
        _output.Advance(1);
    }
}

public enum MetricType
{
    Counter,
    Gauge,
    Histogram,
    Untyped,
}
