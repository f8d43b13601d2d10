using System.Buffers;
using System.Globalization;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Ingestion;
using ModelMonitor.Core.Security;
using ModelMonitor.Ingestion.Kafka;
using ModelMonitor.Security;

namespace ModelMonitor.Ingestion;

/// <summary>POST /v1/predictions: validate prediction logs and write them durably to Kafka.</summary>
public static class PredictionEndpoints
{
    public static IEndpointRouteBuilder MapPredictionEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var v1 = endpoints.MapGroup("/v1");
        v1.MapPost("/predictions", IngestAsync)
            .WithName("IngestPredictions")
            .RequireScope(ApiScopes.WritePredictions);
        v1.MapPost("/outcomes", IngestOutcomesAsync)
            .WithName("IngestOutcomes")
            .RequireScope(ApiScopes.WriteOutcomes);
        return endpoints;
    }

    internal static Task<IResult> IngestAsync(HttpContext context, PredictionProducer producer,
        IngestionMetrics metrics, IOptions<IngestionOptions> options, PredictionBatchParser parser, TimeProvider clock,
        IngestionAdmission admission) =>
        ReceiveAsync(context, metrics, options.Value, admission,
            (body, format) => ProcessAsync(context, body, format, producer, metrics, options.Value, parser, clock));

    /// <summary>POST /v1/outcomes: actual outcomes, with the body formats, limits, errors, backpressure and durability of
    /// predictions; written to the outcomes topic in the partition of their prediction_id.</summary>
    internal static Task<IResult> IngestOutcomesAsync(HttpContext context, PredictionProducer producer,
        IngestionMetrics metrics, IOptions<IngestionOptions> options, OutcomeBatchParser parser, TimeProvider clock,
        IngestionAdmission admission) =>
        ReceiveAsync(context, metrics, options.Value, admission, async (body, format) =>
        {
            var caller = context.Caller();
            var batch = parser.Parse(body.Memory, format, clock.GetUtcNow(), caller.Predictors, caller.ForbiddenPredictor);
            if (WholeBodyProblem(metrics, batch.MalformedMessage, batch.TooManyRecordsLimit, "outcomes") is { } problem)
            {
                return problem;
            }
            foreach (var reason in RejectReasons.All)
            {
                if (batch.RejectedFor(reason) is > 0 and var count)
                {
                    metrics.CountRejectedOutcomes(reason, count);
                }
            }
            var errors = batch.Errors.Select(ToError).ToList();
            if (batch.Accepted.Count == 0)
            {
                return Rejected(new IngestResponse(0, batch.RejectedCount, errors), batch.RejectedFor(RejectReason.ForbiddenPredictor) == batch.RejectedCount);
            }
            if (producer.IsUnavailable)
            {
                return KafkaUnavailable(context, metrics, options.Value, "Kafka is unreachable");
            }
            var delivery = await producer.DeliverOutcomesAsync(batch.Accepted);
            var delivered = batch.Accepted.Count - delivery.Failed.Count - delivery.Refused.Count;
            metrics.OutcomesAccepted.Inc(delivered);
            return Respond(context, metrics, options.Value, delivery, batch.AcceptedIndexes, batch.RejectedCount, errors);
        });

    private static async Task<IResult> ReceiveAsync(HttpContext context, IngestionMetrics metrics, IngestionOptions settings,
        IngestionAdmission admission, Func<PooledBody, BodyFormat, Task<IResult>> process)
    {
        metrics.InFlight.Inc();
        try
        {
            if (ReadFormat(context.Request.ContentType, out var unsupported) is not { } format)
            {
                metrics.RequestsRejected.WithLabels("unsupported_media_type").Inc();
                return Problem(StatusCodes.Status415UnsupportedMediaType, unsupported);
            }
            if (context.Request.ContentLength > settings.MaxBodyBytes)
            {
                return TooLarge(metrics, settings);
            }
            // Stage 1 (see IngestionAdmission): receive the body, holding memory only.
            var (body, outcome) = await ReadBodyAsync(context, settings.MaxBodyBytes, admission);
            using var received = body;
            if (outcome == BodyOutcome.TooLarge)
            {
                return TooLarge(metrics, settings);
            }
            if (outcome == BodyOutcome.OverBudget)
            {
                return Overloaded(context, metrics, settings, "Too many request bodies in memory");
            }

            // Stage 2: validate and write to Kafka, holding a processing permit.
            using var permit = await admission.EnterProcessingAsync(context.RequestAborted);
            if (!permit.IsAcquired)
            {
                return Overloaded(context, metrics, settings, "Too many requests in progress");
            }
            return await process(received!, format);
        }
        finally
        {
            metrics.InFlight.Dec();
        }
    }

    private static async Task<IResult> ProcessAsync(HttpContext context, PooledBody body, BodyFormat format, PredictionProducer producer,
        IngestionMetrics metrics, IngestionOptions settings, PredictionBatchParser parser, TimeProvider clock)
    {
        var caller = context.Caller();
        var batch = parser.Parse(body.Memory, format, clock.GetUtcNow(), caller.Predictors, caller.ForbiddenPredictor);
        if (WholeBodyProblem(metrics, batch.MalformedMessage, batch.TooManyRecordsLimit, "prediction logs") is { } problem)
        {
            return problem;
        }
        metrics.CountRejections(batch);
        var errors = batch.Errors.Select(ToError).ToList();
        if (batch.Accepted.Count == 0)
        {
            return Rejected(new IngestResponse(0, batch.RejectedCount, errors), batch.RejectedFor(RejectReason.ForbiddenPredictor) == batch.RejectedCount);
        }

        if (producer.IsUnavailable)
        {
            return KafkaUnavailable(context, metrics, settings, "Kafka is unreachable");
        }
        var outcome = await producer.DeliverAsync(batch.Accepted, batch.AcceptedJson);
        var delivered = batch.Accepted.Count - outcome.Failed.Count - outcome.Refused.Count;
        metrics.Accepted.Inc(delivered);
        return Respond(context, metrics, settings, outcome, batch.AcceptedIndexes, batch.RejectedCount, errors);
    }

    /// <summary>The answer once Kafka reported on the accepted records: 202 with what was stored and why the others were not,
    /// 400 when nothing valid could be written, 503 when Kafka took none of them.</summary>
    private static IResult Respond(HttpContext context, IngestionMetrics metrics, IngestionOptions settings, DeliveryOutcome outcome,
        IReadOnlyList<int> acceptedIndexes, int rejectedCount, List<IngestError> errors)
    {
        var delivered = acceptedIndexes.Count - outcome.Failed.Count - outcome.Refused.Count;
        if (outcome.Refused.Count > 0)
        {
            metrics.CountRejected(RejectReason.TooLargeForKafka, outcome.Refused.Count);
            foreach (var (record, why) in outcome.Refused)
            {
                if (errors.Count < settings.MaxErrorsReported)
                {
                    errors.Add(new IngestError(acceptedIndexes[record], "", why, Retryable: false));
                }
            }
            errors.Sort((a, b) => a.Index.CompareTo(b.Index));
        }
        if (delivered == 0 && outcome.Failed.Count == 0)
        {
            return Rejected(new IngestResponse(0, rejectedCount + outcome.Refused.Count, errors));
        }
        if (delivered == 0)
        {
            return KafkaUnavailable(context, metrics, settings, $"Kafka did not acknowledge the records ({outcome.FirstError})",
                outcome.PossiblyStored);
        }
        if (outcome.Failed.Count > 0)
        {
            // Some records are in Kafka, some are not: acknowledge the first, and list the others as
            // retryable so the caller resends exactly those (resending all would count some twice).
            context.Response.Headers.RetryAfter = settings.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            foreach (var failed in outcome.Failed)
            {
                if (errors.Count < settings.MaxErrorsReported)
                {
                    errors.Add(new IngestError(acceptedIndexes[failed], "",
                        $"not acknowledged by Kafka ({outcome.FirstError}); resend this record", Retryable: true));
                }
            }
            errors.Sort((a, b) => a.Index.CompareTo(b.Index));
        }
        return TypedResults.Json(new IngestResponse(delivered, rejectedCount + outcome.Failed.Count + outcome.Refused.Count, errors),
            statusCode: StatusCodes.Status202Accepted);
    }

    /// <summary>400 for a malformed body, 413 for one over the record limit (nothing stored), or null.</summary>
    private static ProblemHttpResult? WholeBodyProblem(IngestionMetrics metrics, string? malformed, int? tooManyLimit, string records)
    {
        if (malformed is not null)
        {
            metrics.RequestsRejected.WithLabels("malformed").Inc();
            return Problem(StatusCodes.Status400BadRequest, malformed);
        }
        if (tooManyLimit is { } limit)
        {
            metrics.RequestsRejected.WithLabels("too_many_records").Inc();
            return Problem(StatusCodes.Status413PayloadTooLarge, $"A request may hold at most {limit} {records}.");
        }
        return null;
    }

    private static BodyFormat? ReadFormat(string? contentType, out string problem)
    {
        problem = $"Content-Type must be application/json or application/x-ndjson (got '{contentType ?? "none"}').";
        if (contentType is null || !MediaTypeHeaderValue.TryParse(contentType, out var media))
        {
            return null;
        }
        var format = media.MediaType.Value?.ToLowerInvariant() switch
        {
            "application/json" => BodyFormat.Json,
            "application/x-ndjson" or "application/ndjson" or "application/jsonl" => (BodyFormat?)BodyFormat.NdJson,
            _ => null,
        };
        if (format is not null && media.Charset.HasValue
            && !media.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase) && !media.Charset.Equals("utf8", StringComparison.OrdinalIgnoreCase))
        {
            problem = $"charset '{media.Charset.Value}' is not supported: the body must be UTF-8 (send charset=utf-8, or no charset).";
            return null;
        }
        return format;
    }

    private enum BodyOutcome
    {
        Complete,
        TooLarge,
        OverBudget,
    }

    /// <summary>Reads the body into a pooled buffer whose memory is reserved from the admission budget.</summary>
    private static async Task<(PooledBody? Body, BodyOutcome Outcome)> ReadBodyAsync(HttpContext context, long maxBytes, IngestionAdmission admission)
    {
        // Kestrel's own limit is lifted for this endpoint: this method enforces the configured one and
        // answers 413 itself. Slow bodies are cut off by Kestrel's minimum data rate (slowloris).
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = maxBytes + 1;
        }
        var initial = (int)Math.Min(context.Request.ContentLength ?? 16 * 1024, maxBytes) + 1;
        var body = PooledBody.TryRent(initial, admission);
        if (body is null)
        {
            return (null, BodyOutcome.OverBudget);
        }
        try
        {
            var stream = context.Request.Body;
            while (true)
            {
                if (body.Length > maxBytes)
                {
                    body.Dispose();
                    return (null, BodyOutcome.TooLarge);
                }
                if (!body.TryEnsureFreeSpace())
                {
                    body.Dispose();
                    return (null, BodyOutcome.OverBudget);
                }
                var read = await stream.ReadAsync(body.FreeSpace, context.RequestAborted);
                if (read == 0)
                {
                    return (body, BodyOutcome.Complete);
                }
                body.Advance(read);
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            body.Dispose();
            return (null, BodyOutcome.TooLarge);
        }
        catch
        {
            body.Dispose();
            throw;
        }
    }

    private static ProblemHttpResult TooLarge(IngestionMetrics metrics, IngestionOptions settings)
    {
        metrics.RequestsRejected.WithLabels("too_large").Inc();
        return Problem(StatusCodes.Status413PayloadTooLarge, $"The body may be at most {settings.MaxBodyBytes} bytes.");
    }

    private static ProblemHttpResult Overloaded(HttpContext context, IngestionMetrics metrics, IngestionOptions settings, string why)
    {
        metrics.RequestsRejected.WithLabels("overloaded").Inc();
        context.Response.Headers.RetryAfter = settings.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        return Problem(StatusCodes.Status429TooManyRequests, $"{why}; nothing was stored, retry later.");
    }

    private static ProblemHttpResult KafkaUnavailable(HttpContext context, IngestionMetrics metrics, IngestionOptions settings, string why,
        int possiblyStored = 0)
    {
        metrics.RequestsRejected.WithLabels("kafka_unavailable").Inc();
        context.Response.Headers.RetryAfter = settings.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        // Kafka cannot say whether a request that timed out in flight was written: say so rather than
        // promise "nothing stored" (a retry may then count those records twice).
        var stored = possiblyStored == 0
            ? "nothing was stored"
            : $"Kafka's answer for {possiblyStored} of them timed out, so they may have been stored";
        return Problem(StatusCodes.Status503ServiceUnavailable, $"{why}; {stored}; retry the whole request later.");
    }

    /// <summary>A whole-request error as RFC 9457 problem details (title from the status, detail = what and where, traceId).</summary>
    internal static ProblemHttpResult Problem(int status, string message) =>
        TypedResults.Problem(detail: message, statusCode: status);

    /// <summary>A rejected record as the response lists it: a record of a predictor outside the key's patterns with status
    /// 403 (the others of the batch proceed).</summary>
    private static IngestError ToError(RecordError e) =>
        new(e.Index, e.Field, e.Message, Retryable: false, e.Reason == RejectReason.ForbiddenPredictor ? StatusCodes.Status403Forbidden : null);

    /// <summary>400 when no record was stored (403 when every record was of a predictor the key may not write): problem
    /// details carrying the same accepted / rejected / errors as a 202.</summary>
    private static ProblemHttpResult Rejected(IngestResponse response, bool allForbidden = false) =>
        TypedResults.Problem(
            detail: response.Errors.Count > 0
                ? $"No record was stored: {response.Rejected} rejected; the first, record {response.Errors[0].Index}: {Describe(response.Errors[0])}."
                : $"No record was stored: {response.Rejected} rejected.",
            statusCode: allForbidden ? StatusCodes.Status403Forbidden : StatusCodes.Status400BadRequest,
            extensions: new Dictionary<string, object?>
            {
                ["accepted"] = response.Accepted,
                ["rejected"] = response.Rejected,
                ["errors"] = response.Errors,
            });

    private static string Describe(IngestError error) => error.Field.Length == 0 ? error.Message : $"{error.Field} {error.Message}";

    /// <summary>A growable buffer rented from the shared pool, its size reserved from the admission budget.</summary>
    private sealed class PooledBody : IDisposable
    {
        private readonly IngestionAdmission _admission;
        private byte[] _buffer;

        private PooledBody(byte[] buffer, IngestionAdmission admission)
        {
            _buffer = buffer;
            _admission = admission;
        }

        public static PooledBody? TryRent(int size, IngestionAdmission admission)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(size, 4096));
            if (admission.TryReserveBody(buffer.Length))
            {
                return new PooledBody(buffer, admission);
            }
            ArrayPool<byte>.Shared.Return(buffer);
            return null;
        }

        public int Length { get; private set; }

        public ReadOnlyMemory<byte> Memory => _buffer.AsMemory(0, Length);

        public Memory<byte> FreeSpace => _buffer.AsMemory(Length);

        /// <summary>Doubles the buffer when full; false when the budget does not allow it.</summary>
        public bool TryEnsureFreeSpace()
        {
            if (Length < _buffer.Length)
            {
                return true;
            }
            var bigger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
            if (!_admission.TryReserveBody(bigger.Length))
            {
                ArrayPool<byte>.Shared.Return(bigger);
                return false;
            }
            _buffer.AsSpan(0, Length).CopyTo(bigger);
            Release();
            _buffer = bigger;
            return true;
        }

        public void Advance(int count) => Length += count;

        public void Dispose()
        {
            if (_buffer.Length > 0)
            {
                Release();
                _buffer = [];
            }
        }

        private void Release()
        {
            _admission.ReleaseBody(_buffer.Length);
            ArrayPool<byte>.Shared.Return(_buffer);
        }
    }
}

/// <summary>202/400 body: how many records were stored, how many rejected, and why (capped).</summary>
public sealed record IngestResponse(int Accepted, int Rejected, IReadOnlyList<IngestError> Errors);

/// <summary>One rejected record. Retryable ones were valid but not written to Kafka: resend them. Status (403) only for a
/// record of a predictor the API key may not write.</summary>
public sealed record IngestError(int Index, string Field, string Message, bool Retryable,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Status = null);

