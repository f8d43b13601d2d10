namespace ModelMonitor.WebConsole.Overview;

/// <summary>One model as the overview lists it.</summary>
/// <param name="Role">primary / shadow (registered), inferred primary, candidate.</param>
/// <param name="Hourly">Predictions per hour over the overview's span, oldest first (the sparkline).</param>
/// <param name="ProblemFeatures">Features of the model's latest complete window with a problem (see <see cref="OverviewReader"/>).</param>
/// <param name="ProblemExamples">Their names, in order (the first 50).</param>
public sealed record OverviewModel(
    string PredictorName,
    string ModelId,
    string Role,
    long LastHour,
    IReadOnlyList<long> Hourly,
    DateTimeOffset LastSeen,
    int ProblemFeatures,
    IReadOnlyList<string> ProblemExamples);
