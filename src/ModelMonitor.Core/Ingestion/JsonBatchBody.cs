using System.Text.Json;
using System.Text.Unicode;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Json;

namespace ModelMonitor.Core.Ingestion;

/// <summary>What reads the records of a request body, one at a time (predictions, outcomes).</summary>
internal interface IJsonBatchRecords
{
    /// <summary>Records read so far, valid or not.</summary>
    int Count { get; }

    /// <summary>Reads the record at the reader's current token and leaves the reader on its last token.</summary>
    /// <param name="json">The bytes the reader reads, as they came (not rewritten).</param>
    void Read(ref Utf8JsonReader reader, ReadOnlyMemory<byte> json, NonFiniteMap nonFinite);
}

/// <summary>The outcome of reading a body: a whole-body error (400 or 413), or null members when the records were read.</summary>
internal readonly record struct BodyReadResult(string? Malformed, bool TooMany);

/// <summary>
/// Reads a request body of records, the part every ingestion endpoint shares: UTF-8 check, one JSON object or an array of
/// them (<see cref="BodyFormat.Json"/>) or one object per line (<see cref="BodyFormat.NdJson"/>), the record limit, bare
/// NaN/Infinity tokens, and an error that says where (line and byte) the body is malformed.
/// </summary>
internal static class JsonBatchBody
{
    private static readonly JsonReaderOptions ReaderOptions = new()
    {
        MaxDepth = IngestionLimits.MaxJsonDepth,
        CommentHandling = JsonCommentHandling.Disallow,
        AllowTrailingCommas = false,
    };

    /// <param name="noun">What a record is, for "the body holds no …".</param>
    public static BodyReadResult Read<T>(ReadOnlyMemory<byte> body, BodyFormat format, int maxRecords, ref T records, string noun)
        where T : struct, IJsonBatchRecords
    {
        if (FindInvalidUtf8(body.Span) is { } badOffset)
        {
            return new($"the body is not valid UTF-8 (byte offset {badOffset})", false);
        }
        long lineOffset = 0;
        try
        {
            if (format == BodyFormat.NdJson)
            {
                ReadNdJson(body, maxRecords, ref records, ref lineOffset);
            }
            else
            {
                ReadJson(body, maxRecords, ref records);
            }
        }
        catch (JsonException e)
        {
            return new(DescribeJsonError(e, lineOffset), false);
        }
        catch (InvalidOperationException e)
        {
            // The reader refuses a value it cannot represent (the record readers check for these first; this is the
            // net under them, so bad input never becomes a 500).
            return new($"malformed JSON: {e.Message.TrimEnd('.')}", false);
        }
        catch (TooManyRecordsException)
        {
            return new(null, true);
        }
        return records.Count == 0 ? new($"the body holds no {noun}", false) : default;
    }

    private static void ReadJson<T>(ReadOnlyMemory<byte> json, int maxRecords, ref T records)
        where T : struct, IJsonBatchRecords
    {
        if (json.Span.Trim(" \t\r\n"u8).IsEmpty)
        {
            return; // reported by the caller as "no record"
        }
        var rewritten = NonFiniteLiterals.Rewrite(json.Span, out var nonFinite);
        var reader = new Utf8JsonReader(rewritten, ReaderOptions);
        reader.Read();
        if (reader.TokenType == JsonTokenType.StartArray)
        {
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                ReadOne(ref reader, json, nonFinite, maxRecords, ref records);
            }
        }
        else
        {
            ReadOne(ref reader, json, nonFinite, maxRecords, ref records);
        }
        // Anything after the value must be whitespace; the reader throws on a second value.
        reader.Read();
    }

    private static void ReadOne<T>(ref Utf8JsonReader reader, ReadOnlyMemory<byte> json, NonFiniteMap nonFinite, int maxRecords, ref T records)
        where T : struct, IJsonBatchRecords
    {
        if (records.Count == maxRecords)
        {
            throw new TooManyRecordsException();
        }
        records.Read(ref reader, json, nonFinite);
    }

    private static void ReadNdJson<T>(ReadOnlyMemory<byte> body, int maxRecords, ref T records, ref long lineOffset)
        where T : struct, IJsonBatchRecords
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
                lineOffset = line;
                var before = records.Count;
                ReadJson(lineBytes, maxRecords, ref records);
                if (records.Count - before > 1 || lineBytes.Span.TrimStart(" \t"u8)[0] == (byte)'[')
                {
                    throw new JsonException("each NDJSON line must hold exactly one JSON object", null, 0, 0);
                }
            }
            start = end + 1;
            line++;
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
