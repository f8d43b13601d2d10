namespace ModelMonitor.Core.Drift;

/// <summary>
/// Distances between two discrete distributions given as shares of the same bins (each side's shares sum to 1).
/// These are the formulas users check with scipy: <c>Psi</c> is Σ (q − p)·ln(q / p) with empty shares replaced by
/// <see cref="PsiEpsilon"/>; <see cref="JensenShannonDistance"/> is <c>scipy.spatial.distance.jensenshannon(p, q, base=2)</c>.
/// </summary>
public static class Divergence
{
    /// <summary>What an empty bin's share becomes before the logarithm of PSI (the shares are not renormalised).</summary>
    public const double PsiEpsilon = 1e-4;

    /// <summary>Population stability index Σᵢ (qᵢ − pᵢ)·ln(qᵢ / pᵢ), p the reference, q the window, natural logarithm, every
    /// share of 0 replaced by 1e-4. 0 for identical shares; grows without bound.</summary>
    public static double Psi(ReadOnlySpan<double> reference, ReadOnlySpan<double> current)
    {
        CheckLengths(reference, current);
        var psi = 0.0;
        for (var i = 0; i < reference.Length; i++)
        {
            var p = reference[i] > 0 ? reference[i] : PsiEpsilon;
            var q = current[i] > 0 ? current[i] : PsiEpsilon;
            psi += (q - p) * Math.Log(q / p);
        }

        return psi;
    }

    /// <summary>Jensen-Shannon distance: √(½·KL(p‖m) + ½·KL(q‖m)), m = (p + q) / 2, logarithms base 2 (0·log 0 = 0), so it lies
    /// in [0, 1]: 0 for identical shares, 1 for disjoint ones.</summary>
    public static double JensenShannonDistance(ReadOnlySpan<double> reference, ReadOnlySpan<double> current)
    {
        CheckLengths(reference, current);
        var divergence = 0.0;
        for (var i = 0; i < reference.Length; i++)
        {
            var p = reference[i];
            var q = current[i];
            var m = (p + q) / 2;
            if (p > 0)
            {
                divergence += 0.5 * p * Math.Log2(p / m);
            }

            if (q > 0)
            {
                divergence += 0.5 * q * Math.Log2(q / m);
            }
        }

        // Rounding can leave a tiny negative or a value a hair above 1.
        return Math.Sqrt(Math.Clamp(divergence, 0, 1));
    }

    /// <summary>L-infinity distance maxᵢ |pᵢ − qᵢ|, in [0, 1].</summary>
    public static double Linf(ReadOnlySpan<double> reference, ReadOnlySpan<double> current)
    {
        CheckLengths(reference, current);
        var max = 0.0;
        for (var i = 0; i < reference.Length; i++)
        {
            max = Math.Max(max, Math.Abs(reference[i] - current[i]));
        }

        return max;
    }

    private static void CheckLengths(ReadOnlySpan<double> reference, ReadOnlySpan<double> current)
    {
        if (reference.Length != current.Length)
        {
            throw new ArgumentException($"Both sides need the same bins ({reference.Length} and {current.Length} shares).", nameof(current));
        }
    }
}
