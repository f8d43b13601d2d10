namespace ModelMonitor.Core.Contracts;

/// <summary>
/// How prediction logs are packed into Kafka messages. A message value is one or more records, one per line
/// (NDJSON: records joined by '\n'), each a record as <see cref="PredictionLogCodec"/> writes it. The API writes
/// the records of one request that belong to the same partition (<see cref="PredictionPartitioner"/>) as one
/// message, split where a message would exceed the size limit; the message has no key. A message of one record
/// is exactly the single-record value of earlier versions, so readers handle both.
/// Packing cuts Kafka's per-message work (produce call, delivery report, batch framing, consumer fetch) by the
/// records per message, and keeps the placement a keyed record would have.
/// </summary>
public static class PredictionMessages
{
    public const byte Separator = (byte)'\n';

    /// <summary>
    /// Groups <paramref name="logs"/> by partition, in their order, into messages of at most
    /// <paramref name="maxMessageBytes"/>. A record that is alone larger than that is left out and listed in
    /// <see cref="MessagePlan.TooLarge"/> with its size.
    /// </summary>
    /// <param name="verbatim">Parallel to <paramref name="logs"/> (or null): the record as sent, or empty to encode it
    /// (<see cref="PredictionLogCodec.ValueOf"/>).</param>
    public static MessagePlan Plan(IReadOnlyList<PredictionLog> logs, IReadOnlyList<ReadOnlyMemory<byte>>? verbatim,
        int partitionCount, int maxMessageBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitionCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMessageBytes, 1);
        var count = logs.Count;
        var partitions = new int[count];
        var sizes = new int[count];
        byte[]?[]? encoded = null;
        List<(int Record, int Bytes)>? tooLarge = null;
        var perPartition = new int[partitionCount + 1];
        for (var i = 0; i < count; i++)
        {
            var json = verbatim is null ? default : verbatim[i];
            if (json.IsEmpty)
            {
                encoded ??= new byte[count][];
                encoded[i] = PredictionLogCodec.Encode(logs[i]);
                sizes[i] = encoded[i]!.Length;
            }
            else
            {
                sizes[i] = PredictionLogCodec.VerbatimLength(json.Span);
            }
            if (sizes[i] > maxMessageBytes)
            {
                (tooLarge ??= []).Add((i, sizes[i]));
                partitions[i] = -1;
                continue;
            }
            partitions[i] = PredictionPartitioner.PartitionOf(logs[i].PredictionId, partitionCount);
            perPartition[partitions[i] + 1]++;
        }

        // Counting sort by partition, stable: records keep their request order within a partition.
        for (var p = 0; p < partitionCount; p++)
        {
            perPartition[p + 1] += perPartition[p];
        }
        var ordered = new int[perPartition[partitionCount]];
        for (var i = 0; i < count; i++)
        {
            if (partitions[i] >= 0)
            {
                ordered[perPartition[partitions[i]]++] = i;
            }
        }

        var messages = new List<PlannedMessage>();
        var start = 0;
        while (start < ordered.Length)
        {
            var partition = partitions[ordered[start]];
            var bytes = sizes[ordered[start]];
            var end = start + 1;
            while (end < ordered.Length && partitions[ordered[end]] == partition && bytes + 1 + sizes[ordered[end]] <= maxMessageBytes)
            {
                bytes += 1 + sizes[ordered[end]];
                end++;
            }
            var records = ordered[start..end];
            messages.Add(new PlannedMessage(partition, Write(records, bytes, logs, verbatim, encoded), records, PredictionKeyHeader.Encode(logs, records)));
            start = end;
        }
        return new MessagePlan(messages, tooLarge ?? []);
    }

    private static byte[] Write(int[] records, int bytes, IReadOnlyList<PredictionLog> logs,
        IReadOnlyList<ReadOnlyMemory<byte>>? verbatim, byte[]?[]? encoded)
    {
        var value = new byte[bytes];
        var at = 0;
        foreach (var record in records)
        {
            if (at > 0)
            {
                value[at++] = Separator;
            }
            if (encoded?[record] is { } canonical)
            {
                canonical.CopyTo(value, at);
                at += canonical.Length;
            }
            else
            {
                var json = verbatim![record].Span;
                var length = PredictionLogCodec.VerbatimLength(json);
                PredictionLogCodec.WriteVerbatim(json, value.AsSpan(at, length));
                at += length;
            }
        }
        return value;
    }

    /// <summary>
    /// Decodes every record of a message value into <paramref name="logs"/>; each record that cannot be decoded adds
    /// one entry ("record N: why") to <paramref name="errors"/> and the others are still read. Never throws on bad input.
    /// </summary>
    /// <returns>The number of records the message held (decoded or not).</returns>
    public static int Decode(ReadOnlySpan<byte> value, List<PredictionLog> logs, List<string> errors) =>
        DecodeLines(value, errors, (ReadOnlySpan<byte> line, out string? error) =>
        {
            if (PredictionLogCodec.TryDecode(line, out var log, out error))
            {
                logs.Add(log);
                return true;
            }
            return false;
        });

    /// <summary>
    /// The part every reader of a message shares (predictions, their keys, outcomes): each line that is not blank is one
    /// record, given to <paramref name="read"/>; a record it cannot read adds one entry to <paramref name="errors"/>
    /// ("record N: why", or just why for a message of one record) and the others are still read.
    /// </summary>
    /// <returns>The number of records the message held (read or not).</returns>
    public static int DecodeLines(ReadOnlySpan<byte> value, List<string> errors, MessageLineReader read)
    {
        var records = 0;
        while (true)
        {
            var end = value.IndexOf(Separator);
            var line = end < 0 ? value : value[..end];
            if (!line.Trim(" \t\r"u8).IsEmpty || (records == 0 && end < 0))
            {
                if (!read(line, out var error))
                {
                    errors.Add(records == 0 && end < 0 ? error ?? "unreadable record" : $"record {records}: {error}");
                }
                records++;
            }
            if (end < 0)
            {
                return records;
            }
            value = value[(end + 1)..];
        }
    }
}

/// <summary>Reads one record (a line) of a message: true when read (or deliberately passed over), false with why not.</summary>
public delegate bool MessageLineReader(ReadOnlySpan<byte> line, out string? error);

/// <summary>One Kafka message: its partition, its value and the positions of the records it holds, in order.</summary>
/// <param name="Keys">The <see cref="PredictionKeyHeader"/> of a predictions message (null for outcomes).</param>
public sealed record PlannedMessage(int Partition, byte[] Value, int[] Records, byte[]? Keys = null);

/// <summary>The messages for a list of records, and the records too large to send (position, size in bytes).</summary>
public sealed record MessagePlan(IReadOnlyList<PlannedMessage> Messages, IReadOnlyList<(int Record, int Bytes)> TooLarge);
