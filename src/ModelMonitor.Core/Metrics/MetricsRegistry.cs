using System.Buffers;
using System.Collections.Concurrent;

namespace ModelMonitor.Core.Metrics;

/// <summary>
/// The metric families of one process, rendered on demand in the Prometheus text format.
/// Thread-safe: families are created at start-up, samples are updated from any thread.
/// </summary>
public sealed class MetricsRegistry
{
    private readonly List<MetricFamily> _families = [];
    private readonly List<Action<PrometheusTextWriter>> _collectors = [];
    private readonly Lock _gate = new();

    public Counter CreateCounter(string name, string help, params string[] labelNames) =>
        Add(new Counter(name, help, labelNames));

    public Gauge CreateGauge(string name, string help, params string[] labelNames) =>
        Add(new Gauge(name, help, labelNames));

    /// <param name="buckets">Upper bounds, strictly increasing; +Inf is implicit.</param>
    public Histogram CreateHistogram(string name, string help, double[] buckets, params string[] labelNames) =>
        Add(new Histogram(name, help, buckets, labelNames));

    /// <summary>Adds series computed at scrape time. The callback writes whole families.</summary>
    public void AddCollector(Action<PrometheusTextWriter> collect)
    {
        lock (_gate)
        {
            _collectors.Add(collect);
        }
    }

    /// <summary>Renders every family, then every collector.</summary>
    public void WriteTo(IBufferWriter<byte> output)
    {
        MetricFamily[] families;
        Action<PrometheusTextWriter>[] collectors;
        lock (_gate)
        {
            families = [.. _families];
            collectors = [.. _collectors];
        }
        var writer = new PrometheusTextWriter(output);
        foreach (var family in families)
        {
            family.WriteTo(writer);
        }
        foreach (var collect in collectors)
        {
            collect(writer);
        }
    }

    /// <summary>Renders the exposition into a new byte array (tests and small endpoints).</summary>
    public byte[] Render()
    {
        var buffer = new ArrayBufferWriter<byte>(16 * 1024);
        WriteTo(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    private T Add<T>(T family) where T : MetricFamily
    {
        lock (_gate)
        {
            if (_families.Any(f => f.Name == family.Name))
            {
                throw new InvalidOperationException($"Metric {family.Name} is registered twice.");
            }
            _families.Add(family);
        }
        return family;
    }
}

/// <summary>A named metric with a fixed list of label names; one child per combination of label values.</summary>
public abstract class MetricFamily
{
    private protected MetricFamily(string name, string help, string[] labelNames, MetricType type)
    {
        if (!MetricNames.IsValidMetricName(name))
        {
            throw new ArgumentException($"'{name}' is not a valid Prometheus metric name.", nameof(name));
        }
        foreach (var label in labelNames)
        {
            if (!MetricNames.IsValidLabelName(label))
            {
                throw new ArgumentException($"'{label}' is not a valid Prometheus label name (metric {name}).", nameof(labelNames));
            }
        }
        Name = name;
        Help = help;
        LabelNames = labelNames;
        Type = type;
    }

    public string Name { get; }
    public string Help { get; }
    public string[] LabelNames { get; }
    public MetricType Type { get; }

    internal abstract void WriteTo(PrometheusTextWriter writer);

    private protected string[] CheckLabelValues(string[] values)
    {
        if (values.Length != LabelNames.Length)
        {
            throw new ArgumentException($"{Name} takes {LabelNames.Length} label values, got {values.Length}.");
        }
        return values;
    }

    private protected static string Key(string[] values) => values.Length switch
    {
        0 => string.Empty,
        1 => values[0],
        _ => string.Join('\u0001', values),
    };
}

/// <summary>A family whose children are created on first use of a label combination.</summary>
public abstract class MetricFamily<TChild> : MetricFamily where TChild : class
{
    private readonly ConcurrentDictionary<string, (string[] Values, TChild Child)> _children = new(StringComparer.Ordinal);
    private TChild? _unlabeled;

    private protected MetricFamily(string name, string help, string[] labelNames, MetricType type)
        : base(name, help, labelNames, type)
    {
    }

    /// <summary>The child for these label values (cache it on hot paths).</summary>
    public TChild WithLabels(params string[] labelValues)
    {
        CheckLabelValues(labelValues);
        var key = Key(labelValues);
        if (_children.TryGetValue(key, out var existing))
        {
            return existing.Child;
        }
        return _children.GetOrAdd(key, _ => ((string[])labelValues.Clone(), CreateChild())).Child;
    }

    /// <summary>The only child of a family without labels.</summary>
    private protected TChild Unlabeled
    {
        get
        {
            if (LabelNames.Length != 0)
            {
                throw new InvalidOperationException($"{Name} has labels: use WithLabels(...).");
            }
            return _unlabeled ??= WithLabels();
        }
    }

    private protected abstract TChild CreateChild();

    private protected abstract void WriteChild(PrometheusTextWriter writer, string[] labelValues, TChild child);

    internal override void WriteTo(PrometheusTextWriter writer)
    {
        if (_children.IsEmpty)
        {
            // A family with no samples is still announced, so a scrape shows what exists.
            if (LabelNames.Length == 0)
            {
                _ = Unlabeled;
            }
            else
            {
                writer.WriteFamilyHeader(Name, Help, Type);
                return;
            }
        }
        writer.WriteFamilyHeader(Name, Help, Type);
        foreach (var (_, (values, child)) in _children.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            WriteChild(writer, values, child);
        }
    }
}

public sealed class Counter : MetricFamily<Counter.Child>
{
    internal Counter(string name, string help, string[] labelNames) : base(name, help, labelNames, MetricType.Counter)
    {
    }

    public void Inc(double amount = 1) => Unlabeled.Inc(amount);

    public double Value => Unlabeled.Value;

    private protected override Child CreateChild() => new();

    private protected override void WriteChild(PrometheusTextWriter writer, string[] labelValues, Child child) =>
        writer.WriteSample(Name, LabelNames, labelValues, child.Value);

    public sealed class Child
    {
        private double _value;

        public double Value => Volatile.Read(ref _value);

        public void Inc(double amount = 1)
        {
            if (amount < 0 || double.IsNaN(amount))
            {
                throw new ArgumentOutOfRangeException(nameof(amount), amount, "A counter only goes up.");
            }
            AtomicDouble.Add(ref _value, amount);
        }
    }
}

public sealed class Gauge : MetricFamily<Gauge.Child>
{
    internal Gauge(string name, string help, string[] labelNames) : base(name, help, labelNames, MetricType.Gauge)
    {
    }

    public void Set(double value) => Unlabeled.Set(value);

    public void Inc(double amount = 1) => Unlabeled.Inc(amount);

    public void Dec(double amount = 1) => Unlabeled.Inc(-amount);

    public double Value => Unlabeled.Value;

    private protected override Child CreateChild() => new();

    private protected override void WriteChild(PrometheusTextWriter writer, string[] labelValues, Child child) =>
        writer.WriteSample(Name, LabelNames, labelValues, child.Value);

    public sealed class Child
    {
        private double _value;

        public double Value => Volatile.Read(ref _value);

        public void Set(double value) => Volatile.Write(ref _value, value);

        public void Inc(double amount = 1) => AtomicDouble.Add(ref _value, amount);

        public void Dec(double amount = 1) => AtomicDouble.Add(ref _value, -amount);
    }
}

public sealed class Histogram : MetricFamily<Histogram.Child>
{
    private readonly double[] _buckets;
    private readonly string[] _bucketLabels;

    internal Histogram(string name, string help, double[] buckets, string[] labelNames)
        : base(name, help, labelNames, MetricType.Histogram)
    {
        if (buckets.Length == 0)
        {
            throw new ArgumentException($"{name} needs at least one bucket.", nameof(buckets));
        }
        for (var i = 0; i < buckets.Length; i++)
        {
            if (!double.IsFinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
            {
                throw new ArgumentException($"{name}: buckets must be finite and strictly increasing.", nameof(buckets));
            }
        }
        if (labelNames.Contains("le"))
        {
            throw new ArgumentException($"{name}: 'le' is reserved for histogram buckets.", nameof(labelNames));
        }
        _buckets = (double[])buckets.Clone();
        _bucketLabels = [.. _buckets.Select(b => b.ToString("R", System.Globalization.CultureInfo.InvariantCulture)), "+Inf"];
    }

    /// <summary>Latency buckets in seconds, 1 ms to 10 s.</summary>
    public static double[] LatencyBuckets { get; } =
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    public void Observe(double value) => Unlabeled.Observe(value);

    private protected override Child CreateChild() => new(_buckets);

    private protected override void WriteChild(PrometheusTextWriter writer, string[] labelValues, Child child)
    {
        var (counts, sum, count) = child.Snapshot();
        long cumulative = 0;
        for (var i = 0; i < counts.Length; i++)
        {
            cumulative += counts[i];
            writer.WriteSample(Name + "_bucket", LabelNames, labelValues, "le", _bucketLabels[i], cumulative);
        }
        writer.WriteSample(Name + "_sum", LabelNames, labelValues, sum);
        writer.WriteSample(Name + "_count", LabelNames, labelValues, count);
    }

    public sealed class Child
    {
        private readonly double[] _upperBounds;
        private readonly long[] _counts; // per bucket, the last one is +Inf
        private double _sum;

        internal Child(double[] upperBounds)
        {
            _upperBounds = upperBounds;
            _counts = new long[upperBounds.Length + 1];
        }

        public void Observe(double value)
        {
            if (double.IsNaN(value))
            {
                return;
            }
            var index = Array.BinarySearch(_upperBounds, value);
            // BinarySearch gives the match (le is inclusive) or the complement of the next larger bound.
            Interlocked.Increment(ref _counts[index >= 0 ? index : ~index]);
            AtomicDouble.Add(ref _sum, value);
        }

        internal (long[] Counts, double Sum, long Count) Snapshot()
        {
            var counts = new long[_counts.Length];
            long total = 0;
            for (var i = 0; i < counts.Length; i++)
            {
                counts[i] = Volatile.Read(ref _counts[i]);
                total += counts[i];
            }
            return (counts, Volatile.Read(ref _sum), total);
        }
    }
}

internal static class AtomicDouble
{
    public static void Add(ref double target, double amount)
    {
        var current = Volatile.Read(ref target);
        while (true)
        {
            var seen = Interlocked.CompareExchange(ref target, current + amount, current);
            if (seen.Equals(current))
            {
                return;
            }
            current = seen;
        }
    }
}
