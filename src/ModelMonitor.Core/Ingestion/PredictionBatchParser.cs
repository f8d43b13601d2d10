using System.Text.Json;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Json;
using ModelMonitor.Core.Security;

namespace ModelMonitor.Core.Ingestion;

/// <summary>The body formats POST /v1/predictions accepts.</summary>
public enum BodyFormat
{
    /// <summary>application/json: one object, or an array of objects.</summary>
    Json,

    /// <summary>application/x-ndjson: one object per line.</summary>
    NdJson,
}

/// <summary>
/// Parses a request body into validated prediction logs. Records are validated one by one: valid ones are
/// accepted, invalid ones rejected with their index. A body that is not well-formed JSON, not UTF-8, or has
/// too many records is rejected whole.
/// </summary>
/// <param name="omitForwardedFeatures">For a caller that forwards the accepted JSON (the API): records forwarded as sent
/// (<see cref="ParsedBatch.AcceptedJson"/> not empty) are validated in full but carry no features in
/// <see cref="ParsedBatch.Accepted"/>, which saves copying them out; records to re-encode keep theirs.</param>
public sealed class PredictionBatchParser(IngestionLimits limits, bool omitForwardedFeatures = false)
{
    private readonly bool _omitForwardedFeatures = omitForwardedFeatures;

    /// <summary>Records up to this size are forwarded as sent; larger ones are re-encoded without their whitespace.</summary>
    public const int MaxVerbatimBytes = 64 * 1024;

    public IngestionLimits Limits => limits;

    /// <param name="allowed">The predictors the caller may write (its API key's patterns): a valid record of another one is
    /// rejected (<see cref="RejectReason.ForbiddenPredictor"/>, message from <paramref name="forbidden"/>); null allows all.</param>
    public ParsedBatch Parse(ReadOnlyMemory<byte> body, BodyFormat format, DateTimeOffset now, PredictorPatterns? allowed = null,
        Func<string, string>? forbidden = null)
    {
        var batch = new ParsedBatch(limits.MaxErrorsReported);
        var records = new Records(this, batch, now, allowed is { AllowsAll: false } ? allowed : null, forbidden);
        return JsonBatchBody.Read(body, format, limits.MaxRecordsPerRequest, ref records, "prediction log") switch
        {
            { Malformed: { } message } => ParsedBatch.Malformed(message),
            { TooMany: true } => ParsedBatch.TooMany(limits.MaxRecordsPerRequest),
            _ => batch,
        };
    }

    private struct Records(PredictionBatchParser parser, ParsedBatch batch, DateTimeOffset now, PredictorPatterns? allowed,
        Func<string, string>? forbidden) : IJsonBatchRecords
    {
        public readonly int Count => batch.RecordCount;

        /// <param name="json">The bytes the reader reads (not rewritten): the record's own bytes are kept for forwarding.</param>
        public readonly void Read(ref Utf8JsonReader reader, ReadOnlyMemory<byte> json, NonFiniteMap nonFinite)
        {
            var start = reader.TokenStartIndex;
            var log = PredictionRecordReader.ReadRequestRecord(ref reader, nonFinite, parser.Limits, now, out var fault, out var onlyContractFields,
                parser._omitForwardedFeatures ? MaxVerbatimBytes : null);
            if (log is not null && allowed is not null && !allowed.Allows(log.PredictorName))
            {
                batch.Reject(ForbiddenRecords.Fault(log.PredictorName, forbidden));
            }
            else if (log is not null)
            {
                // The reader stands on the record's closing brace: BytesConsumed is just past it. A record padded far
                // beyond its content (whitespace) is re-encoded compactly rather than forwarded.
                var length = reader.BytesConsumed - start;
                batch.Accept(log, onlyContractFields && length <= MaxVerbatimBytes ? json[(int)start..(int)reader.BytesConsumed] : default);
            }
            else
            {
                batch.Reject(fault!);
            }
        }
    }
}

internal static class ForbiddenRecords
{
    public static RecordFault Fault(string predictorName, Func<string, string>? message) =>
        new("predictor_name", message?.Invoke(predictorName) ?? $"may not be written with this API key ('{predictorName}' is outside its predictor patterns)",
            RejectReason.ForbiddenPredictor);
}

/// <summary>The outcome of parsing one request body.</summary>
public sealed class ParsedBatch
{
    private readonly int _maxErrors;
    private readonly List<PredictionLog> _accepted = [];
    private readonly List<int> _acceptedIndexes = [];
    private readonly List<ReadOnlyMemory<byte>> _acceptedJson = [];
    private readonly List<RecordError> _errors = [];
    private readonly int[] _rejectedByReason = new int[RejectReasons.All.Count];

    internal ParsedBatch(int maxErrors) => _maxErrors = maxErrors;

    /// <summary>Set when the body as a whole is rejected (400): it says what and where.</summary>
    public string? MalformedMessage { get; private init; }

    /// <summary>Set when the body holds more records than allowed (413).</summary>
    public int? TooManyRecordsLimit { get; private init; }

    /// <summary>The valid records, in request order. A parser built with omitForwardedFeatures leaves the features of
    /// records forwarded as sent (<see cref="AcceptedJson"/> not empty) empty.</summary>
    public IReadOnlyList<PredictionLog> Accepted => _accepted;

    /// <summary>
    /// Parallel to <see cref="Accepted"/>: the record's JSON as it came (a slice of the body, valid while the body
    /// is), or empty when it must be re-encoded: it held fields outside the contract or was over
    /// <see cref="MaxVerbatimBytes"/> as sent.
    /// </summary>
    public IReadOnlyList<ReadOnlyMemory<byte>> AcceptedJson => _acceptedJson;

    /// <summary>Position in the request of each accepted record, parallel to <see cref="Accepted"/>.</summary>
    public IReadOnlyList<int> AcceptedIndexes => _acceptedIndexes;

    /// <summary>The first rejected records (capped), in request order.</summary>
    public IReadOnlyList<RecordError> Errors => _errors;

    public int RecordCount { get; private set; }

    public int RejectedCount { get; private set; }

    public int RejectedFor(RejectReason reason) => _rejectedByReason[(int)reason];

    internal static ParsedBatch Malformed(string message) => new(0) { MalformedMessage = message };

    internal static ParsedBatch TooMany(int limit) => new(0) { TooManyRecordsLimit = limit };

    internal void Accept(PredictionLog log, ReadOnlyMemory<byte> json)
    {
        _accepted.Add(log);
        _acceptedJson.Add(json);
        _acceptedIndexes.Add(RecordCount++);
    }

    internal void Reject(RecordFault fault)
    {
        if (_errors.Count < _maxErrors)
        {
            _errors.Add(new RecordError(RecordCount, fault.Field, fault.Message, fault.Reason));
        }
        _rejectedByReason[(int)fault.Reason]++;
        RejectedCount++;
        RecordCount++;
    }
}
