using System.Buffers.Binary;
using System.Text;

namespace ModelMonitor.Core.Contracts;

/// <summary>
/// The partition a prediction log belongs to: Kafka's default partitioning of its prediction_id (UTF-8) as a
/// message key, the 32-bit MurmurHash2 with Kafka's seed, made positive, modulo the partition count. The Java
/// client's default partitioner and librdkafka's "murmur2" partitioners place a keyed record the same way, so
/// anything else that writes records keyed by prediction_id (later: outcomes) lands on the same partition.
/// Written here because no client library exposes the function; a test checks it against librdkafka's.
/// </summary>
public static class PredictionPartitioner
{
    private const uint Seed = 0x9747b28c;
    private const uint Mix = 0x5bd1e995;
    private const int MaxStackKey = 512;

    public static int PartitionOf(string predictionId, int partitionCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitionCount, 1);
        var length = Encoding.UTF8.GetByteCount(predictionId);
        Span<byte> key = length <= MaxStackKey ? stackalloc byte[length] : new byte[length];
        Encoding.UTF8.GetBytes(predictionId, key);
        return PartitionOf(key, partitionCount);
    }

    public static int PartitionOf(ReadOnlySpan<byte> key, int partitionCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitionCount, 1);
        return (int)(Murmur2(key) & 0x7fffffff) % partitionCount;
    }

    /// <summary>MurmurHash2 (32-bit, little-endian blocks) with Kafka's seed.</summary>
    public static uint Murmur2(ReadOnlySpan<byte> data)
    {
        var hash = Seed ^ (uint)data.Length;
        var blocks = data.Length / 4;
        for (var i = 0; i < blocks; i++)
        {
            var k = BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(i * 4, 4));
            k *= Mix;
            k ^= k >> 24;
            k *= Mix;
            hash *= Mix;
            hash ^= k;
        }
        var tail = data[(blocks * 4)..];
        if (tail.Length > 0)
        {
            if (tail.Length == 3)
            {
                hash ^= (uint)tail[2] << 16;
            }
            if (tail.Length >= 2)
            {
                hash ^= (uint)tail[1] << 8;
            }
            hash ^= tail[0];
            hash *= Mix;
        }
        hash ^= hash >> 13;
        hash *= Mix;
        hash ^= hash >> 15;
        return hash;
    }
}
