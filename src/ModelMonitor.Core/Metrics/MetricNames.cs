namespace ModelMonitor.Core.Metrics;

/// <summary>Checks metric and label names against the Prometheus data model.</summary>
public static class MetricNames
{
    /// <summary>[a-zA-Z_:][a-zA-Z0-9_:]*</summary>
    public static bool IsValidMetricName(string name) => IsValid(name, allowColon: true);

    /// <summary>[a-zA-Z_][a-zA-Z0-9_]*, and names starting with __ are reserved.</summary>
    public static bool IsValidLabelName(string name) =>
        IsValid(name, allowColon: false) && !name.StartsWith("__", StringComparison.Ordinal);

    private static bool IsValid(string name, bool allowColon)
    {
        if (string.IsNullOrEmpty(name))
        {
            return false;
        }
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            var ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or '_'
                || (allowColon && c == ':')
                || (i > 0 && c is >= '0' and <= '9');
            if (!ok)
            {
                return false;
            }
        }
        return true;
    }
}
