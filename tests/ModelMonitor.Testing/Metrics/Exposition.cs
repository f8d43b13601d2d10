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

    /// <summary>The sum of every sample of <paramref name="name"/>, whatever its labels (e.g. a gauge per partition); 0 when none.</summary>
    public static double Sum(string text, string name)
    {
        double sum = 0;
        foreach (var line in text.AsSpan().EnumerateLines())
        {
            if (line.StartsWith(name, StringComparison.Ordinal) && line.Length > name.Length && line[name.Length] is ' ' or '{')
            {
                sum += double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
            }
        }
        return sum;
    }

    /// <summary>The sum of the samples of <paramref name="name"/> that have the label <paramref name="label"/>=<paramref name="value"/>; 0 when none.</summary>
    public static double Labelled(string text, string name, string label, string value)
    {
        var wanted = $"{label}=\"{value}\"";
        double sum = 0;
        foreach (var line in text.AsSpan().EnumerateLines())
        {
            if (line.StartsWith(name, StringComparison.Ordinal) && line.Length > name.Length && line[name.Length] == '{'
                && line[..(line.IndexOf('}') + 1)].IndexOf(wanted, StringComparison.Ordinal) > 0)
            {
                sum += double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
            }
        }
        return sum;
    }
}
