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

    public static double From(IReadOnlyList<double> windowDistances, double floor)
    {
        ArgumentNullException.ThrowIfNull(windowDistances);
        var finite = windowDistances.Where(double.IsFinite).ToList();
        if (finite.Count < 2)
        {
            return floor;
        }

        var mean = finite.Average();
        var variance = finite.Sum(d => (d - mean) * (d - mean)) / (finite.Count - 1);
        return Math.Max(floor, mean + (Sigmas * Math.Sqrt(variance)));
    }
}
