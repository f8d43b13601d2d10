using ModelMonitor.Core.Contracts;

namespace ModelMonitor.DemoTraffic.Scenarios;

/// <summary>
/// The actual outcomes (late labels) of the demo's predictions, drawn from the primary record of each prediction:
/// <list type="bullet">
/// <item>eta_prediction: 95% of predictions get the true delivery time in minutes, eta_v12's estimate (before any shift
/// incident) times e^(0.15·z): eta_v12 is off by ~12% (MAE ~5 min), its shadow about as much. During the quality drop
/// the courier shortage adds <see cref="IncidentSchedule.ShortageMinutes"/>. Observed 30–90 s after the prediction.</item>
/// <item>fraud_score: 40% of predictions get a boolean, true with probability σ(1.25 + 1.6·logit(score)) (the score
/// underrates the odds; its ROC AUC is ~0.87, fraud ~3%). Observed 2–3 minutes after the prediction.</item>
/// <item>prep_time: none.</item>
/// </list>
/// Seeded on its own stream, so the prediction records are those of the same seed without outcomes. Not thread-safe.
/// </summary>
public sealed class OutcomeGenerator
{
    public const double EtaCoverage = 0.95;
    public const double FraudCoverage = 0.40;

    /// <summary>Spread of ln(actual / eta_v12's estimate).</summary>
    public const double EtaErrorSigma = 0.15;

    public const double FraudIntercept = 1.25;
    public const double FraudSlope = 1.6;

    public static readonly TimeSpan EtaDelayMin = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan EtaDelayMax = TimeSpan.FromSeconds(90);
    public static readonly TimeSpan FraudDelayMin = TimeSpan.FromMinutes(2);
    public static readonly TimeSpan FraudDelayMax = TimeSpan.FromMinutes(3);

    private readonly Random _rng;
    private readonly IncidentSchedule _incidents;
    private readonly double _delayScale;

    /// <param name="delayScale">Multiplies the label delays (1: as above; tests shorten them).</param>
    public OutcomeGenerator(int seed, IncidentSchedule incidents, double delayScale = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(delayScale);
        _rng = new Random(unchecked((seed * 7_919) + 104_729));
        _incidents = incidents;
        _delayScale = delayScale;
    }

    /// <summary>
    /// The outcome of the prediction <paramref name="record"/> is the primary record of, with observed_at = sent_at + its label
    /// delay; null for shadow records, prep_time and predictions left without one. <paramref name="liveElapsed"/>: as for the
    /// record (null: backfill, no incidents).
    /// </summary>
    public Outcome? Next(PredictionLog record, TimeSpan? liveElapsed)
    {
        if (record.ModelId == DemoScenarios.EtaPrimaryModel)
        {
            if (!_rng.NextBoolean(EtaCoverage))
            {
                return null;
            }

            var estimate = _incidents.IsActive(IncidentKind.PredictionShift, liveElapsed)
                ? record.PredictionResult / IncidentSchedule.ShiftFactor
                : record.PredictionResult;
            var actual = (estimate * Math.Exp(EtaErrorSigma * _rng.NextGaussian())) + _incidents.ShortageMinutes(estimate, Market(record), liveElapsed);
            return Observed(record, ActualValue.Of(Math.Round(actual, 2)), EtaDelayMin, EtaDelayMax);
        }

        if (record.ModelId == DemoScenarios.FraudModel)
        {
            if (!_rng.NextBoolean(FraudCoverage))
            {
                return null;
            }

            var score = Math.Clamp(record.PredictionResult, 1e-6, 1 - 1e-6);
            var logit = FraudIntercept + (FraudSlope * Math.Log(score / (1 - score)));
            return Observed(record, ActualValue.Of(_rng.NextBoolean(1 / (1 + Math.Exp(-logit)))), FraudDelayMin, FraudDelayMax);
        }

        return null;
    }

    private Outcome Observed(PredictionLog record, ActualValue actual, TimeSpan minDelay, TimeSpan maxDelay)
    {
        var delay = (minDelay + ((maxDelay - minDelay) * _rng.NextDouble())) * _delayScale;
        return new Outcome(record.PredictorName, record.PredictionId, actual, record.SentAt + delay);
    }

    private static string? Market(PredictionLog record)
    {
        foreach (var (name, value) in record.Features)
        {
            if (name == "market")
            {
                return value.Text;
            }
        }

        return null;
    }
}
