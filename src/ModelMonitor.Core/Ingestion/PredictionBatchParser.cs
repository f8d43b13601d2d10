using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Json;

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
    private static readonly JsonReaderOptions ReaderOptions = new()
    {
        MaxDepth = IngestionLimits.MaxJsonDepth,
        CommentHandling = JsonCommentHandling.Disallow,
        AllowTrailingCommas = false,
    };

    /// <summary>Records up to this size are forwarded as sent; larger ones are re-encoded without their whitespace.</summary>
    public const int MaxVerbatimBytes = 64 * 1024;

    public IngestionLimits Limits => limits;

    public ParsedBatch Parse(ReadOnlyMemory<byte> body, BodyFormat format, DateTimeOffset now)
    {
        if (FindInvalidUtf8(body.Span) is { } badOffset)
        {
            return ParsedBatch.Malformed($"the body is not valid UTF-8 (byte offset {badOffset})");
        }
        var batch = new ParsedBatch(limits.MaxErrorsReported);
        try
        {
            if (format == BodyFormat.NdJson)
            {
                ParseNdJson(body, now, batch);
            }
            else
            {
                ParseJson(body, now, batch, lineOffset: 0);
            }
        }
        catch (JsonException e)
        {
            return ParsedBatch.Malformed(DescribeJsonError(e, batch.LineOffsetOfError));
        }
        catch (InvalidOperationException e)
        {
            // The reader refuses a value it cannot represent (the record reader checks for these first; this is the
            // net under it, so bad input never becomes a 500).
            return ParsedBatch.Malformed($"malformed JSON: {e.Message.TrimEnd('.')}");
        }
        catch (TooManyRecordsException)
        {
            return ParsedBatch.TooMany(limits.MaxRecordsPerRequest);
        }
        if (batch.RecordCount == 0)
        {
            return ParsedBatch.Malformed("the body holds no prediction log");
        }
        return batch;
    }

    private void ParseJson(ReadOnlyMemory<byte> json, DateTimeOffset now, ParsedBatch batch, long lineOffset)
    {
        batch.LineOffsetOfError = lineOffset;
        if (json.Span.Trim(" \t\r\n"u8).IsEmpty)
        {
            return; // reported by the caller as "no prediction log"
        }
        var rewritten = NonFiniteLiterals.Rewrite(json.Span, out var nonFinite);
        var reader = new Utf8JsonReader(rewritten, ReaderOptions);
        reader.Read();
        if (reader.TokenType == JsonTokenType.StartArray)
        {
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                ReadOne(ref reader, json, nonFinite, now, batch);
            }
        }
        else
        {
            ReadOne(ref reader, json, nonFinite, now, batch);
        }
        // Anything after the value must be whitespace; the reader throws on a second value.
        reader.Read();
    }

    private void ParseNdJson(ReadOnlyMemory<byte> body, DateTimeOffset now, ParsedBatch batch)
    {
        var span = body.Span;
        var start = 0;
        var line = 0L;
        while (start < span.Length)
        {
            var length = span[start..].IndexOf((byte)'\n');
            var end = length < 0 ? span.Length : start + length;
            var lineBytes = body[start..end];
            if (!lineBytes.Span.Trim(" \t\r"u8).IsEmpty)
            {
                var before = batch.RecordCount;
                ParseJson(lineBytes, now, batch, line);
                if (batch.RecordCount - before > 1 || lineBytes.Span.TrimStart(" \t"u8)[0] == (byte)'[')
                {
                    throw new JsonException("each NDJSON line must hold exactly one JSON object", null, 0, 0);
                }
            }
            start = end + 1;
            line++;
        }
    }

    /// <param name="json">The bytes the reader reads (not rewritten): the record's own bytes are kept for forwarding.</param>
    private void ReadOne(ref Utf8JsonReader reader, ReadOnlyMemory<byte> json, NonFiniteMap nonFinite, DateTimeOffset now, ParsedBatch batch)
    {
        if (batch.RecordCount == limits.MaxRecordsPerRequest)
        {
            throw new TooManyRecordsException();
        }
        var start = reader.TokenStartIndex;
        var log = PredictionRecordReader.ReadRequestRecord(ref reader, nonFinite, limits, now, out var fault, out var onlyContractFields,
            omitForwardedFeatures ? MaxVerbatimBytes : null);
        if (log is not null)
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

    private static long? FindInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        if (Utf8.IsValid(bytes))
        {
            return null;
        }
        Span<char> scratch = stackalloc char[1024];
        long offset = 0;
        while (true)
        {
            var status = Utf8.ToUtf16(bytes, scratch, out var read, out _, replaceInvalidSequences: false);
            offset += read;
            if (status == System.Buffers.OperationStatus.InvalidData || status == System.Buffers.OperationStatus.NeedMoreData)
            {
                return offset;
            }
            bytes = bytes[read..];
        }
    }

    private static string DescribeJsonError(JsonException e, long lineOffset)
    {
        var message = e.Message;
        var cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut < 0)
        {
            cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        }
        if (cut > 0)
        {
            message = message[..cut];
        }
        var line = (e.LineNumber ?? 0) + lineOffset + 1;
        var position = (e.BytePositionInLine ?? 0) + 1;
        return $"malformed JSON at line {line}, byte {position}: {message.TrimEnd('.')}";
    }

    private sealed class TooManyRecordsException : Exception;
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

    internal long LineOffsetOfError { get; set; }

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
