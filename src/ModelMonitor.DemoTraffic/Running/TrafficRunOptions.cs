using ModelMonitor.DemoTraffic.Scenarios;
using ModelMonitor.DemoTraffic.Sending;

namespace ModelMonitor.DemoTraffic.Running;

/// <summary>Everything one run of the generator is told on its command line.</summary>
public sealed record TrafficRunOptions
{
    public required Uri Url { get; init; }
    public double Rate { get; init; } = 200;
    public bool MaxRate { get; init; }
    public TimeSpan? Duration { get; init; }
    public int Concurrency { get; init; } = 4;
    public int BatchSize { get; init; } = 100;
    public int Seed { get; init; } = 42;
    public required string RunId { get; init; }
    public PayloadFormat Format { get; init; } = PayloadFormat.Json;
    public TimeSpan DemoDay { get; init; } = TimeSpan.FromMinutes(10);
    public IncidentSchedule Incidents { get; init; } = IncidentSchedule.Default;
    public int BackfillHours { get; init; }

    /// <summary>Upload a training reference of the ETA primary model (generated records, no incident) before traffic.</summary>
    public bool UploadTrainingReference { get; init; }

    /// <summary>Register the demo's predictors (primary, shadow, model ages) before the traffic starts.</summary>
    public bool Register { get; init; }
    public int BackfillPerHour { get; init; } = 200;
    public string? LedgerPath { get; init; }
    public bool LedgerWithModel { get; init; }
    public bool JsonSummary { get; init; }
    public TimeSpan StatusInterval { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public SenderPolicy Sender { get; init; } = SenderPolicy.Default;

    /// <summary>Send the actual outcomes of eta_prediction and fraud_score to POST /v1/outcomes (--no-outcomes: off).</summary>
    public bool Outcomes { get; init; } = true;

    /// <summary>Multiplies the label delays of <see cref="OutcomeGenerator"/> (1 on the command line; tests shorten them).</summary>
    public double LabelDelayScale { get; init; } = 1;

    /// <summary>Problems with the options, as messages for the user; empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Url.IsAbsoluteUri || Url.Scheme is not ("http" or "https"))
        {
            errors.Add("--url must be an absolute http(s) URL.");
        }

        if (!MaxRate && Rate is <= 0 or > 1_000_000)
        {
            errors.Add("--rate must be in (0, 1000000] predictions/s.");
        }

        if (Concurrency is < 1 or > 1024)
        {
            errors.Add("--concurrency must be in [1, 1024].");
        }

        if (BatchSize is < 1 or > 10_000)
        {
            errors.Add("--batch-size must be in [1, 10000] (the API's limit).");
        }

        if (Duration is { } d && d <= TimeSpan.Zero)
        {
            errors.Add("--duration must be positive.");
        }

        if (DemoDay < TimeSpan.FromSeconds(10))
        {
            errors.Add("--demo-day must be at least 10s.");
        }

        if (BackfillHours is < 0 or > BackfillPlan.MaxHours)
        {
            errors.Add($"--backfill-hours must be in [0, {BackfillPlan.MaxHours}]: the API rejects sent_at older than 7 days.");
        }

        if (BackfillPerHour is < 1 or > 1_000_000)
        {
            errors.Add("--backfill-per-hour must be in [1, 1000000].");
        }

        if (!(LabelDelayScale >= 0) || !double.IsFinite(LabelDelayScale))
        {
            errors.Add("The label delay scale must be a finite number ≥ 0.");
        }

        if (string.IsNullOrWhiteSpace(RunId) || RunId.Length > 64 || RunId.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_')))
        {
            errors.Add("--run-id must be 1-64 characters of letters, digits, '-' and '_'.");
        }

        return errors;
    }
}
