using ModelMonitor.Core.Contracts;

namespace ModelMonitor.DemoTraffic.Scenarios;

/// <summary>
/// Turns the scenarios into prediction logs. Pure and seeded: the same seed, run id and sequence of
/// calls (with the same times) give the same records. Not thread-safe: one generator per producer.
/// </summary>
public sealed class TrafficGenerator
{
    /// <summary>Probability that a feature is missing from a record (half absent, half null).</summary>
    public const double DefaultMissingRate = 0.005;

    private readonly Random _rng;
    private readonly string _runId;
    private readonly IncidentSchedule _incidents;
    private readonly IReadOnlyList<PredictorScenario> _scenarios;
    private readonly double _missingRate;
    private readonly double[] _shares;
    private long _sequence;

    public TrafficGenerator(int seed, string runId, IncidentSchedule incidents, IReadOnlyList<PredictorScenario>? scenarios = null, double missingRate = DefaultMissingRate)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(runId);
        ArgumentOutOfRangeException.ThrowIfNegative(missingRate);
        _rng = new Random(seed);
        _runId = runId;
        _incidents = incidents;
        _scenarios = scenarios ?? DemoScenarios.All;
        _missingRate = missingRate;
        _shares = new double[_scenarios.Count];
    }

    public IReadOnlyList<PredictorScenario> Scenarios => _scenarios;

    /// <summary>
    /// One live prediction of a predictor picked by traffic share among those still sending:
    /// appends its records (primary, then shadows). Returns false when every predictor is silent.
    /// </summary>
    public bool NextLive(DateTimeOffset sentAt, TimeSpan liveElapsed, TimeSpan demoDay, ICollection<PredictionLog> output)
    {
        var anyActive = false;
        for (var i = 0; i < _scenarios.Count; i++)
        {
            _shares[i] = IsSilent(_scenarios[i], liveElapsed) ? 0 : _scenarios[i].TrafficShare;
            anyActive |= _shares[i] > 0;
        }

        if (!anyActive)
        {
            return false;
        }

        var scenario = _scenarios[_rng.NextWeighted(_shares)];
        Next(scenario, sentAt, DayPhase.OfDemoDay(liveElapsed, demoDay), liveElapsed, output);
        return true;
    }

    /// <summary>True when <paramref name="scenario"/> has gone silent at this point of the live run.</summary>
    public bool IsSilent(PredictorScenario scenario, TimeSpan? liveElapsed) =>
        scenario.PredictorName == DemoScenarios.PrepTimePredictor && _incidents.IsActive(IncidentKind.PredictorSilence, liveElapsed);

    /// <summary>
    /// One prediction of <paramref name="scenario"/>: appends one record per model, all with the same
    /// prediction_id and features. <paramref name="liveElapsed"/> is null for backfilled history (no incidents).
    /// </summary>
    public void Next(PredictorScenario scenario, DateTimeOffset sentAt, DayPhase phase, TimeSpan? liveElapsed, ICollection<PredictionLog> output)
    {
        var features = new List<KeyValuePair<string, FeatureValue>>(scenario.Features.Count);
        var seen = new Dictionary<string, FeatureValue>(scenario.Features.Count, StringComparer.Ordinal);
        var defaults = new List<string>(2);
        var stuck = scenario.PrimaryModelId == DemoScenarios.PrepTimeModel && _incidents.IsActive(IncidentKind.DefaultStuck, liveElapsed);
        var nanValues = scenario.PrimaryModelId == DemoScenarios.FraudModel && _incidents.IsActive(IncidentKind.NaNValues, liveElapsed);
        var asStrings = scenario.PrimaryModelId == DemoScenarios.FraudModel && _incidents.IsActive(IncidentKind.TypeMismatch, liveElapsed);
        var eta = scenario.PrimaryModelId == DemoScenarios.EtaPrimaryModel;
        var inMetres = eta && _incidents.IsActive(IncidentKind.UnitChange, liveElapsed);
        var warming = eta ? _incidents.GradualDriftOffset(liveElapsed) : 0;

        foreach (var feature in scenario.Features)
        {
            var real = feature.Sample(_rng, phase);
            var draw = _rng.NextDouble();
            if (stuck && feature.Name == DemoScenarios.StuckDefaultFeature && feature.Default is { } stuckValue)
            {
                Add(feature.Name, stuckValue);
                defaults.Add(feature.Name);
            }
            else if (draw < _missingRate / 2)
            {
                // Absent: the service did not send the feature at all.
            }
            else if (draw < _missingRate)
            {
                Add(feature.Name, FeatureValue.Null);
            }
            else if (feature.Default is { } defaultValue && draw < _missingRate + feature.DefaultRate)
            {
                Add(feature.Name, defaultValue);
                defaults.Add(feature.Name);
            }
            else if (nanValues && feature.Name == DemoScenarios.NaNFeature && _rng.NextDouble() < IncidentSchedule.NaNRate)
            {
                Add(feature.Name, FeatureValue.FromNumber(double.NaN));
            }
            else if (asStrings && feature.Name == DemoScenarios.TypeMismatchFeature && real.Kind == FeatureValueKind.Number
                && _rng.NextDouble() < IncidentSchedule.TypeMismatchRate)
            {
                // A caller that started sending the number as text: "412" instead of 412.
                Add(feature.Name, FeatureValue.FromString(real.Number.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }
            else if (inMetres && feature.Name == DemoScenarios.UnitChangeFeature && real.Kind == FeatureValueKind.Number)
            {
                Add(feature.Name, FeatureValue.FromNumber(Math.Round(real.Number * IncidentSchedule.UnitFactor, 1)));
            }
            else if (warming > 0 && feature.Name == DemoScenarios.GradualDriftFeature && real.Kind == FeatureValueKind.Number)
            {
                Add(feature.Name, FeatureValue.FromNumber(Math.Round(real.Number + warming, 1)));
            }
            else
            {
                Add(feature.Name, real);
            }
        }

        var row = new FeatureRow(seen);
        var primary = scenario.Predict(row, _rng);
        var primaryResult = scenario.PrimaryModelId == DemoScenarios.EtaPrimaryModel && _incidents.IsActive(IncidentKind.PredictionShift, liveElapsed)
            ? primary * IncidentSchedule.ShiftFactor
            : primary;
        var predictionId = $"{scenario.IdPrefix}-{_runId}-{++_sequence:D9}";
        output.Add(new PredictionLog(sentAt, predictionId, scenario.PredictorName, scenario.PrimaryModelId, features, Math.Round(primaryResult, 3), defaults));
        // The quality drop's courier shortage: the shadow follows the longer deliveries, the primary does not.
        var shortage = eta ? _incidents.ShortageMinutes(primary, row.Text("market"), liveElapsed) : 0;
        foreach (var shadow in scenario.ShadowModelIds)
        {
            var shadowResult = scenario.PredictShadow(primary, row, _rng) + shortage;
            output.Add(new PredictionLog(sentAt, predictionId, scenario.PredictorName, shadow, features, Math.Round(shadowResult, 3), defaults));
        }

        void Add(string name, FeatureValue value)
        {
            features.Add(new(name, value));
            seen[name] = value;
        }
    }
}
