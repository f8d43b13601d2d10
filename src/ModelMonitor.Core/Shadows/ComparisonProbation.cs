namespace ModelMonitor.Core.Shadows;

/// <summary>
/// Zero onboarding compares every predictor with two or more models, but models of an unregistered predictor may not score
/// the same requests at all (an A/B split: each request goes to one model). Their predictions would then wait in Postgres
/// for partners that never come, up to 2 × Shadow:JoinWindow each. So an unregistered predictor is on probation: once the
/// join has read <see cref="MinPredictions"/> of its predictions, it keeps comparing it only if at least
/// <see cref="MinPairRatio"/> of them formed a pair; otherwise it stops for <see cref="Suspension"/>, then tries again.
/// Registered shadows are always compared. Pure (the clock is passed in).
/// </summary>
public sealed class ComparisonProbation(int minPredictions = 5_000, double minPairRatio = 0.01, TimeSpan? suspension = null)
{
    private readonly Dictionary<string, (long Predictions, long Pairs)> _seen = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _suspendedUntil = new(StringComparer.Ordinal);

    public int MinPredictions { get; } = minPredictions;

    public double MinPairRatio { get; } = minPairRatio;

    public TimeSpan Suspension { get; } = suspension ?? TimeSpan.FromHours(1);

    /// <summary>Predictors suspended now, for the gauge.</summary>
    public IEnumerable<string> Suspended(DateTimeOffset now) => _suspendedUntil.Where(s => s.Value > now).Select(s => s.Key);

    public bool IsSuspended(string predictor, DateTimeOffset now)
    {
        if (!_suspendedUntil.TryGetValue(predictor, out var until))
        {
            return false;
        }
        if (until > now)
        {
            return true;
        }
        _suspendedUntil.Remove(predictor); // a new probation starts
        _seen.Remove(predictor);
        return false;
    }

    /// <summary>Counts what a write did for an unregistered predictor.</summary>
    /// <returns>True when this suspends it.</returns>
    public bool Record(string predictor, long predictions, long pairs, DateTimeOffset now)
    {
        var (seen, paired) = _seen.GetValueOrDefault(predictor);
        (seen, paired) = (seen + predictions, paired + pairs);
        if (seen < MinPredictions)
        {
            _seen[predictor] = (seen, paired);
            return false;
        }
        _seen.Remove(predictor); // judged: the next window of predictions is judged afresh
        if (paired >= MinPairRatio * seen)
        {
            return false;
        }
        _suspendedUntil[predictor] = now + Suspension;
        return true;
    }
}
