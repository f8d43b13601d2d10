using Microsoft.Extensions.Options;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Ingestion;

namespace ModelMonitor.Ingestion;

/// <summary>Limits of POST /v1/predictions (section "Ingestion"). Defaults are the documented contract.</summary>
public sealed class IngestionOptions
{
    public const string SectionName = "Ingestion";

    public long MaxBodyBytes { get; set; } = 10 * 1024 * 1024;
    public int MaxRecordsPerRequest { get; set; } = IngestionLimits.Default.MaxRecordsPerRequest;
    public int MaxFeatures { get; set; } = IngestionLimits.Default.MaxFeatures;
    public int MaxNameLength { get; set; } = IngestionLimits.Default.MaxNameLength;
    public int MaxPredictionIdLength { get; set; } = IngestionLimits.Default.MaxPredictionIdLength;
    public int MaxStringValueLength { get; set; } = IngestionLimits.Default.MaxStringValueLength;
    public int MaxErrorsReported { get; set; } = IngestionLimits.Default.MaxErrorsReported;
    public TimeSpan MaxFutureSkew { get; set; } = IngestionLimits.Default.MaxFutureSkew;

    /// <summary>Records older than this are rejected; the aggregator uses the same lateness.</summary>
    public TimeSpan AllowedLateness { get; set; } = IngestionLimits.Default.AllowedLateness;

    /// <summary>Requests validated and written to Kafka at once (taken once a body is fully received); more
    /// wait in a queue of <see cref="MaxQueuedRequests"/>, then get 429.</summary>
    public int MaxConcurrentRequests { get; set; } = 64;
    public int MaxQueuedRequests { get; set; } = 256;

    /// <summary>Memory for request bodies being received or processed, all requests together; beyond it 429.
    /// At least twice MaxBodyBytes (buffers are pooled in powers of two).</summary>
    public long MaxBufferedBodyBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Retry-After (seconds) sent with 429 and 503.</summary>
    public int RetryAfterSeconds { get; set; } = 2;

    public IngestionLimits ToLimits() => new()
    {
        MaxRecordsPerRequest = MaxRecordsPerRequest,
        MaxFeatures = MaxFeatures,
        MaxNameLength = MaxNameLength,
        MaxFeatureNameLength = MaxNameLength,
        MaxPredictionIdLength = MaxPredictionIdLength,
        MaxStringValueLength = MaxStringValueLength,
        MaxErrorsReported = MaxErrorsReported,
        MaxFutureSkew = MaxFutureSkew,
        AllowedLateness = AllowedLateness,
    };
}

internal sealed class IngestionOptionsValidator : IValidateOptions<IngestionOptions>
{
    public ValidateOptionsResult Validate(string? name, IngestionOptions o)
    {
        var errors = new List<string>();
        void Require(bool ok, string message)
        {
            if (!ok)
            {
                errors.Add(message);
            }
        }
        Require(o.MaxBodyBytes is >= 1024 and <= 1L << 30, $"Ingestion:MaxBodyBytes must be between 1 KiB and 1 GiB (got {o.MaxBodyBytes}).");
        var ceiling = IngestionLimits.Ceiling;
        Require(o.MaxRecordsPerRequest >= 1 && o.MaxRecordsPerRequest <= ceiling.MaxRecordsPerRequest, $"Ingestion:MaxRecordsPerRequest must be between 1 and {ceiling.MaxRecordsPerRequest:N0} (got {o.MaxRecordsPerRequest}).");
        Require(o.MaxFeatures >= 1 && o.MaxFeatures <= ceiling.MaxFeatures, $"Ingestion:MaxFeatures must be between 1 and {ceiling.MaxFeatures:N0} (got {o.MaxFeatures}).");
        Require(o.MaxNameLength >= 1 && o.MaxNameLength <= ceiling.MaxNameLength, $"Ingestion:MaxNameLength must be between 1 and {ceiling.MaxNameLength:N0} (got {o.MaxNameLength}).");
        Require(o.MaxPredictionIdLength >= 1 && o.MaxPredictionIdLength <= ceiling.MaxPredictionIdLength, $"Ingestion:MaxPredictionIdLength must be between 1 and {ceiling.MaxPredictionIdLength:N0} (got {o.MaxPredictionIdLength}).");
        Require(o.MaxStringValueLength >= 1 && o.MaxStringValueLength <= ceiling.MaxStringValueLength, $"Ingestion:MaxStringValueLength must be between 1 and {ceiling.MaxStringValueLength:N0} (got {o.MaxStringValueLength}).");
        Require(o.MaxErrorsReported >= 0 && o.MaxErrorsReported <= ceiling.MaxErrorsReported, $"Ingestion:MaxErrorsReported must be between 0 and {ceiling.MaxErrorsReported:N0} (got {o.MaxErrorsReported}).");
        Require(o.MaxFutureSkew >= TimeSpan.Zero, $"Ingestion:MaxFutureSkew must not be negative (got {o.MaxFutureSkew}).");
        Require(o.AllowedLateness > TimeSpan.Zero, $"Ingestion:AllowedLateness must be positive (got {o.AllowedLateness}).");
        Require(o.MaxConcurrentRequests >= 1, $"Ingestion:MaxConcurrentRequests must be at least 1 (got {o.MaxConcurrentRequests}).");
        Require(o.MaxQueuedRequests >= 0, $"Ingestion:MaxQueuedRequests must not be negative (got {o.MaxQueuedRequests}).");
        // Pooled body buffers round up to a power of two: a maximal body can take twice its size.
        Require(o.MaxBufferedBodyBytes >= 2 * (o.MaxBodyBytes + 1),
            $"Ingestion:MaxBufferedBodyBytes must be at least twice Ingestion:MaxBodyBytes (got {o.MaxBufferedBodyBytes}, needs {2 * (o.MaxBodyBytes + 1)}).");
        Require(o.RetryAfterSeconds is >= 1 and <= 3600, $"Ingestion:RetryAfterSeconds must be between 1 and 3600 (got {o.RetryAfterSeconds}).");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
