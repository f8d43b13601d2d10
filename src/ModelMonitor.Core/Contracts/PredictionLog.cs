namespace ModelMonitor.Core.Contracts;

/// <summary>
/// One prediction, as a prediction service reports it (the wire contract of POST /v1/predictions).
/// </summary>
/// <param name="SentAt">When the prediction was made; windows are by this event time.</param>
/// <param name="PredictionId">The caller's id of what was predicted for; joins actual outcomes later.</param>
/// <param name="PredictorName">The purpose, e.g. "eta_prediction".</param>
/// <param name="ModelId">The version name of the model that made the prediction.</param>
/// <param name="Features">Feature name and value, in the order they were sent; names are unique.</param>
/// <param name="PredictionResult">The model output the caller used (may be NaN or ±Infinity).</param>
/// <param name="DefaultValuesUsed">Features whose real value was unavailable, so a default was used.</param>
public sealed record PredictionLog(
    DateTimeOffset SentAt,
    string PredictionId,
    string PredictorName,
    string ModelId,
    IReadOnlyList<KeyValuePair<string, FeatureValue>> Features,
    double PredictionResult,
    IReadOnlyList<string> DefaultValuesUsed);
