namespace ModelMonitor.DemoTraffic.Running;

/// <summary>What happened to a run's outcomes (all zero with --no-outcomes).</summary>
/// <param name="Sent">Outcomes handed to the sender.</param>
/// <param name="Accepted">Outcomes the API accepted.</param>
/// <param name="Rejected">Outcomes the API refused for good.</param>
/// <param name="GaveUp">Outcomes neither accepted nor rejected: retries exhausted, or in flight at stop.</param>
/// <param name="Dropped">Outcomes dropped because the queue was full.</param>
/// <param name="Pending">Outcomes still queued (not yet observed, or waiting behind a slow API) at stop.</param>
public readonly record struct OutcomeFigures(long Sent, long Accepted, long Rejected, long GaveUp, long Dropped, long Pending)
{
    public static OutcomeFigures Of(OutcomeDispatcher? outcomes) => outcomes is null
        ? default
        : new(outcomes.Counters.Sent, outcomes.Counters.Acknowledged, outcomes.Counters.Rejected, outcomes.Counters.GaveUp, outcomes.Dropped, outcomes.Pending);
}
