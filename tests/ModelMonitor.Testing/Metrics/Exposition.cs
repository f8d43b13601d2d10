using System.Globalization;

namespace ModelMonitor.Testing.Metrics;

/// <summary>Reading a scraped Prometheus text exposition.</summary>
public static class Exposition
{
    /// <summary>The value of the unlabelled sample <paramref name="name"/>; 0 when the exposition has none.</summary>
    public static double Sample(string text, string name)
    {
        foreach (var line in text.AsSpan().EnumerateLines())
        {
            if (line.StartsWith(name, StringComparison.Ordinal) && line.Length > name.Length && line[name.Length] == ' ')
            {
                return double.Parse(line[(name.Length + 1)..], CultureInfo.InvariantCulture);
            }
        }
        return 0;
    }
}
