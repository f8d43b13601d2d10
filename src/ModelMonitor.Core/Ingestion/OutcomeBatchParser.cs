using System.Text.Json;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Json;
using ModelMonitor.Core.Security;

namespace ModelMonitor.Core.Ingestion;

/// <summary>
/// Parses a POST /v1/outcomes body (one object, an array, or NDJSON: the formats and limits of predictions) into validated
/// outcomes; invalid ones are rejected with their index, a malformed body or one with too many records as a whole.
/// </summary>
/// <param name="labelHorizon">How old an outcome's observed_at may be (Evaluation:LabelHorizon): an older one could not be
/// joined with its predictions any more.</param>
public sealed class OutcomeBatchParser(IngestionLimits limits, TimeSpan labelHorizon)
{
    /// <param name="allowed">The predictors the caller may write (see <see cref="PredictionBatchParser.Parse"/>).</param>
    public ParsedOutcomes Parse(ReadOnlyMemory<byte> body, BodyFormat format, DateTimeOffset now, PredictorPatterns? allowed = null,
        Func<string, string>? forbidden = null)
    {
        var parsed = new ParsedOutcomes(limits.MaxErrorsReported);
        var records = new Records(limits, labelHorizon, parsed, now, allowed is { AllowsAll: false } ? allowed : null, forbidden);
        var result = JsonBatchBody.Read(body, format, limits.MaxRecordsPerRequest, ref records, "outcome");
        parsed.MalformedMessage = result.Malformed;
        parsed.TooManyRecordsLimit = result.TooMany ? limits.MaxRecordsPerRequest : null;
        return parsed;
    }

    private readonly struct Records(IngestionLimits limits, TimeSpan labelHorizon, ParsedOutcomes parsed, DateTimeOffset now, PredictorPatterns? allowed,
        Func<string, string>? forbidden) : IJsonBatchRecords
    {
        public int Count => parsed.RecordCount;

        public void Read(ref Utf8JsonReader reader, ReadOnlyMemory<byte> json, NonFiniteMap nonFinite)
        {
            var outcome = OutcomeRecordReader.ReadRequestRecord(ref reader, nonFinite, limits, labelHorizon, now, out var fault);
            if (outcome is not null && allowed is not null && !allowed.Allows(outcome.PredictorName))
            {
                parsed.Reject(ForbiddenRecords.Fault(outcome.PredictorName, forbidden));
            }
            else if (outcome is not null)
            {
                parsed.Accept(outcome);
            }
            else
            {
                parsed.Reject(fault!);
            }
        }
    }
}

/// <summary>The outcomes of one request body: accepted, rejected with why, or a whole-body error.</summary>
public sealed class ParsedOutcomes(int maxErrors)
{
    private readonly List<Outcome> _accepted = [];
    private readonly List<int> _acceptedIndexes = [];
    private readonly List<RecordError> _errors = [];
    private readonly int[] _rejectedByReason = new int[RejectReasons.All.Count];

    /// <summary>Set when the body as a whole is rejected (400): it says what and where.</summary>
    public string? MalformedMessage { get; internal set; }

    /// <summary>Set when the body holds more records than allowed (413).</summary>
    public int? TooManyRecordsLimit { get; internal set; }

    public IReadOnlyList<Outcome> Accepted => _accepted;

    /// <summary>Position in the request of each accepted outcome, parallel to <see cref="Accepted"/>.</summary>
    public IReadOnlyList<int> AcceptedIndexes => _acceptedIndexes;

    /// <summary>The first rejected records (capped), in request order.</summary>
    public IReadOnlyList<RecordError> Errors => _errors;

    public int RecordCount { get; private set; }

    public int RejectedCount { get; private set; }

    public int RejectedFor(RejectReason reason) => _rejectedByReason[(int)reason];

    internal void Accept(Outcome outcome)
    {
        _accepted.Add(outcome);
        _acceptedIndexes.Add(RecordCount++);
    }

    internal void Reject(RecordFault fault)
    {
        if (_errors.Count < maxErrors)
        {
            _errors.Add(new RecordError(RecordCount, fault.Field, fault.Message, fault.Reason));
        }
        _rejectedByReason[(int)fault.Reason]++;
        RejectedCount++;
        RecordCount++;
    }
}
