using System.Text;
using ModelMonitor.Core.Contracts;

namespace ModelMonitor.Core.Tests.Contracts;

public sealed class PredictionPartitionerTests
{
    // Reference values of Kafka's murmur2 (as the Java client's signed int). The same placement is checked against
    // librdkafka's own murmur2 partitioner on a real broker in the Ingestion tests.
    [Theory]
    [InlineData("21", -973932308)]
    [InlineData("foobar", -790332482)]
    [InlineData("a-little-bit-long-string", -985981536)]
    [InlineData("a-little-bit-longer-string", -1486304829)]
    [InlineData("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971)]
    [InlineData("abc", 479470107)]
    public void Murmur2_matches_Kafkas_reference_values(string key, int expected)
    {
        Assert.Equal(expected, unchecked((int)PredictionPartitioner.Murmur2(Encoding.UTF8.GetBytes(key))));
    }

    [Fact]
    public void Partitions_are_in_range_stable_and_spread()
    {
        var counts = new int[12];
        for (var i = 0; i < 12_000; i++)
        {
            var id = $"prediction-{i}";
            var partition = PredictionPartitioner.PartitionOf(id, 12);
            Assert.InRange(partition, 0, 11);
            Assert.Equal(partition, PredictionPartitioner.PartitionOf(Encoding.UTF8.GetBytes(id), 12));
            counts[partition]++;
        }

        Assert.All(counts, c => Assert.InRange(c, 800, 1200));
    }

    [Fact]
    public void Long_and_non_ASCII_ids_hash_their_UTF8_bytes()
    {
        var id = new string('é', 400) + "ü-1";

        Assert.Equal(PredictionPartitioner.PartitionOf(Encoding.UTF8.GetBytes(id), 7), PredictionPartitioner.PartitionOf(id, 7));
        Assert.Throws<ArgumentOutOfRangeException>(() => PredictionPartitioner.PartitionOf(id, 0));
    }
}
