namespace ModelMonitor.DemoTraffic.Scenarios;

/// <summary>
/// One prediction service the generator plays: a predictor with its primary model and optional shadow
/// models, its features, and how the models turn the features they saw into a prediction.
/// </summary>
/// <param name="PredictorName">The predictor, e.g. eta_prediction.</param>
/// <param name="PrimaryModelId">The model whose output the caller uses.</param>
/// <param name="ShadowModelIds">Models scored on the same request (same prediction_id and features) for comparison.</param>
/// <param name="Features">15-30 features, in the order they are sent.</param>
/// <param name="Predict">The primary model: the features it saw (defaults and missing already applied) and noise.</param>
/// <param name="PredictShadow">A shadow model: the primary's output, the features, and noise.</param>
/// <param name="TrafficShare">Relative share of the total prediction rate.</param>
/// <param name="IdPrefix">Prefix of this predictor's prediction ids (what the id stands for, e.g. a delivery).</param>
public sealed record PredictorScenario(
    string PredictorName,
    string PrimaryModelId,
    IReadOnlyList<string> ShadowModelIds,
    IReadOnlyList<FeatureSpec> Features,
    Func<FeatureRow, Random, double> Predict,
    Func<double, FeatureRow, Random, double> PredictShadow,
    double TrafficShare,
    string IdPrefix)
{
    /// <summary>Records one prediction produces: one for the primary and one per shadow model.</summary>
    public int RecordsPerPrediction => 1 + ShadowModelIds.Count;

    public IEnumerable<string> ModelIds => ShadowModelIds.Prepend(PrimaryModelId);
}
