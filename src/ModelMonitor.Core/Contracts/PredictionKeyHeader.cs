using System.Buffers.Binary;
using System.Text;
using ModelMonitor.Core.Json;
using ModelMonitor.Core.Statistics;

namespace ModelMonitor.Core.Contracts;

/// <summary>
/// The keys of a predictions message's records, in a Kafka header the API adds to every message it produces, so the joins
/// (evaluation, shadows) read who predicted what for which prediction_id without parsing the records' JSON (BENCHMARKS.md
/// §14: that parse was most of the shadow join's cost). Binary, little endian: a version byte, the record count (varint),
/// then per record, in the message's order, predictor_name, prediction_id and model_id (each a varint byte length and
/// UTF-8), sent_at (UTC ticks, int64) and prediction_result (IEEE-754 double). A message without it (another producer, an
/// older API) is read from its JSON (<see cref="PredictionKeys"/>).
/// </summary>
public static class PredictionKeyHeader
{
    public const string Name = "mm-keys";

    public const byte Version = 1;

    /// <summary>The header of a message holding <paramref name="records"/> (positions in <paramref name="logs"/>, in order).</summary>
    public static byte[] Encode(IReadOnlyList<PredictionLog> logs, ReadOnlySpan<int> records)
    {
        var size = 1 + 5;
        foreach (var record in records)
        {
            var log = logs[record];
            size += 15 + 16 + Encoding.UTF8.GetByteCount(log.PredictorName) + Encoding.UTF8.GetByteCount(log.PredictionId)
                + Encoding.UTF8.GetByteCount(log.ModelId);
        }
        var buffer = new byte[size];
        var at = 0;
        buffer[at++] = Version;
        at += Varint.Write(buffer.AsSpan(at), (ulong)records.Length);
        foreach (var record in records)
        {
            var log = logs[record];
            at += WriteString(buffer.AsSpan(at), log.PredictorName);
            at += WriteString(buffer.AsSpan(at), log.PredictionId);
            at += WriteString(buffer.AsSpan(at), log.ModelId);
            BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(at), log.SentAt.UtcTicks);
            BinaryPrimitives.WriteDoubleLittleEndian(buffer.AsSpan(at + 8), log.PredictionResult);
            at += 16;
        }
        return buffer[..at];
    }

    /// <summary>Adds the keys of the records of wanted predictors to <paramref name="keys"/>.</summary>
    /// <returns>The number of records the message holds.</returns>
    /// <exception cref="FormatException">Not a header of this version, or cut short: read the message's JSON instead.</exception>
    public static int Decode(ReadOnlySpan<byte> header, Func<string, bool> wanted, List<PredictionKey> keys)
    {
        if (header.IsEmpty || header[0] != Version)
        {
            throw new FormatException($"Not a {Name} header of version {Version}.");
        }
        var added = keys.Count;
        try
        {
            var at = 1;
            var count = (int)Varint.Read(header, ref at);
            for (var i = 0; i < count; i++)
            {
                var predictor = ReadString(header, ref at, shared: true);
                var keep = wanted(predictor);
                var id = keep ? ReadString(header, ref at, shared: false) : Skip(header, ref at);
                var model = keep ? ReadString(header, ref at, shared: true) : Skip(header, ref at);
                var ticks = BinaryPrimitives.ReadInt64LittleEndian(header[at..]);
                var result = BinaryPrimitives.ReadDoubleLittleEndian(header[(at + 8)..]);
                at += 16;
                if (keep)
                {
                    keys.Add(new PredictionKey(predictor, id!, model!, new DateTimeOffset(ticks, TimeSpan.Zero), result));
                }
            }
            if (at != header.Length)
            {
                throw new FormatException($"{header.Length - at} bytes after the last record of a {Name} header.");
            }
            return count;
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or IndexOutOfRangeException or OverflowException or FormatException)
        {
            keys.RemoveRange(added, keys.Count - added);
            throw e as FormatException ?? new FormatException($"A {Name} header cut short or malformed: {e.Message}", e);
        }
    }

    private static int WriteString(Span<byte> destination, string value)
    {
        var length = Encoding.UTF8.GetBytes(value, destination[5..]);
        var prefix = Varint.Write(destination, (ulong)length);
        if (prefix != 5)
        {
            destination.Slice(5, length).CopyTo(destination[prefix..]);
        }
        return prefix + length;
    }

    private static string ReadString(ReadOnlySpan<byte> header, ref int at, bool shared)
    {
        var length = checked((int)Varint.Read(header, ref at));
        var bytes = header.Slice(at, length);
        at += length;
        return shared ? RepeatedStrings.FromUtf8(bytes) : Encoding.UTF8.GetString(bytes);
    }

    private static string? Skip(ReadOnlySpan<byte> header, ref int at)
    {
        var length = checked((int)Varint.Read(header, ref at));
        if (at + length > header.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(header), "a string runs past the header's end");
        }
        at += length;
        return null;
    }
}
