namespace ModelMonitor.Core.Drift;

/// <summary>
/// Adaptive thresholds, as NannyML derives them: the distance of each of the reference's own windows (its stored
/// windows for a production reference, its chunks for an uploaded one) from the whole reference is what sampling noise
/// and the feature's natural variability give; the threshold is their mean + 3 sample standard deviations, never below
/// the method's floor (<see cref="DriftMethods.Floor"/>). With fewer than 2 windows it is the floor.
/// </summary>
public static class DriftThreshold
{
    public const double Sigmas = 3;

    public static double From(IReadOnlyList<double> windowDistances, double floor) => Of(windowDistances, floor).Threshold;

    /// <summary>The threshold with what it comes from: the finite distances counted, their mean and sample deviation (0 below 2).</summary>
    public static (double Threshold, int Windows, double Mean, double StdDev) Of(IReadOnlyList<double> windowDistances, double floor)
    {
        ArgumentNullException.ThrowIfNull(windowDistances);
        var finite = windowDistances.Where(double.IsFinite).ToList();
        var mean = finite.Count > 0 ? finite.Average() : 0;
        if (finite.Count < 2)
        {
            return (floor, finite.Count, mean, 0);
        }

        var sd = Math.Sqrt(finite.Sum(d => (d - mean) * (d - mean)) / (finite.Count - 1));
        return (Math.Max(floor, mean + (Sigmas * sd)), finite.Count, mean, sd);
    }
}
