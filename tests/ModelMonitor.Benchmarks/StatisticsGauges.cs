using ModelMonitor.Exporter;
using Prometheus;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// The alternative measured by the exporter benchmark (and not taken, see BENCHMARKS.md): the renderer's samples as
/// prometheus-net gauges in a registry, served by MapMetrics. Each refresh sets the series it renders and then removes the series of the previous
/// refresh it did not render (a model or feature no longer exported, a category folded away), so no stale value
/// is published as current. Only the refresh worker calls it. A scrape that coincides with a refresh may see some
/// series of the new refresh and some of the previous one (each series is one atomic value).
/// </summary>
internal sealed class StatisticsGauges(IMetricFactory factory) : IStatisticsSink
{
    private readonly Dictionary<string, Family> _families = new(StringComparer.Ordinal);
    private Family? _current;

    public void BeginFamily(string name, string help, string[] labelNames)
    {
        if (!_families.TryGetValue(name, out var family))
        {
            family = new Family(factory.CreateGauge(name, help, labelNames));
            _families[name] = family;
        }
        _current = family;
    }

    public void Sample(string[] labelValues, double value)
    {
        var family = _current ?? throw new InvalidOperationException("Sample before BeginFamily.");
        family.Gauge.WithLabels(labelValues).Set(value);
        family.Current.Add(labelValues);
    }

    /// <summary>Ends a refresh: series of the previous refresh that this one did not set leave the registry.</summary>
    public void Complete()
    {
        foreach (var family in _families.Values)
        {
            foreach (var labels in family.Previous)
            {
                if (!family.Current.Contains(labels))
                {
                    family.Gauge.RemoveLabelled(labels);
                }
            }
            (family.Previous, family.Current) = (family.Current, family.Previous);
            family.Current.Clear();
        }
        _current = null;
    }

    private sealed class Family(Gauge gauge)
    {
        public Gauge Gauge { get; } = gauge;

        public HashSet<string[]> Previous { get; set; } = new(LabelValuesComparer.Instance);

        public HashSet<string[]> Current { get; set; } = new(LabelValuesComparer.Instance);
    }

    private sealed class LabelValuesComparer : IEqualityComparer<string[]>
    {
        public static LabelValuesComparer Instance { get; } = new();

        public bool Equals(string[]? x, string[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(string[] values)
        {
            var hash = new HashCode();
            foreach (var value in values)
            {
                hash.Add(value, StringComparer.Ordinal);
            }
            return hash.ToHashCode();
        }
    }
}
