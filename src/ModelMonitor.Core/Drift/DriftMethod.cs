namespace ModelMonitor.Core.Drift;

/// <summary>A distance between a window's distribution and a reference's (the <c>method</c> label of the drift metrics).</summary>
public enum DriftMethod
{
    /// <summary>Population stability index over the reference's deciles (numeric) or over categories.</summary>
    Psi,

    /// <summary>Jensen-Shannon distance, base 2: the square root of the divergence, in [0, 1].</summary>
    JensenShannon,

    /// <summary>Kolmogorov-Smirnov statistic: the largest gap between the two cumulative distributions.</summary>
    Ks,

    /// <summary>Wasserstein-1 (earth mover's) distance divided by the reference's standard deviation.</summary>
    Wasserstein,

    /// <summary>L-infinity distance of the category frequencies: the largest change of one category's share.</summary>
    Linf,
}

/// <summary>Labels, applicability and floors of the drift methods.</summary>
public static class DriftMethods
{
    /// <summary>The methods computed for a numeric feature and for prediction_result.</summary>
    public static IReadOnlyList<DriftMethod> Numeric { get; } = [DriftMethod.Psi, DriftMethod.JensenShannon, DriftMethod.Ks, DriftMethod.Wasserstein];

    /// <summary>The methods computed for a categorical or boolean feature.</summary>
    public static IReadOnlyList<DriftMethod> Categorical { get; } = [DriftMethod.Linf, DriftMethod.JensenShannon, DriftMethod.Psi];

    public static IReadOnlyList<DriftMethod> All { get; } = [DriftMethod.Psi, DriftMethod.JensenShannon, DriftMethod.Ks, DriftMethod.Wasserstein, DriftMethod.Linf];

    /// <summary>The value of the <c>method</c> label.</summary>
    public static string Label(this DriftMethod method) => method switch
    {
        DriftMethod.Psi => "psi",
        DriftMethod.JensenShannon => "jensen_shannon",
        DriftMethod.Ks => "ks",
        DriftMethod.Wasserstein => "wasserstein",
        DriftMethod.Linf => "linf",
        _ => throw new ArgumentOutOfRangeException(nameof(method), method, null),
    };

    public static bool TryParse(string label, out DriftMethod method)
    {
        foreach (var candidate in All)
        {
            if (string.Equals(candidate.Label(), label, StringComparison.OrdinalIgnoreCase))
            {
                method = candidate;
                return true;
            }
        }

        method = default;
        return false;
    }

    /// <summary>
    /// The lowest threshold an adaptive threshold may take (<see cref="DriftThreshold"/>): a reference whose windows
    /// barely differ from one another would otherwise page on differences nobody cares about. PSI 0.1 is the customary
    /// "moderate shift"; 0.1 for the Jensen-Shannon distance and the normalised Wasserstein distance are Evidently's
    /// defaults; KS 0.1 and L-infinity 0.1 mean a tenth of the mass moved.
    /// </summary>
    public static double Floor(this DriftMethod method) => method switch
    {
        DriftMethod.Psi => 0.1,
        DriftMethod.JensenShannon => 0.1,
        DriftMethod.Ks => 0.1,
        DriftMethod.Wasserstein => 0.1,
        DriftMethod.Linf => 0.1,
        _ => throw new ArgumentOutOfRangeException(nameof(method), method, null),
    };
}
