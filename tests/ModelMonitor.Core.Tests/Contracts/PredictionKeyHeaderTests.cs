using System.Text;
using ModelMonitor.Core.Contracts;

namespace ModelMonitor.Core.Tests.Contracts;

/// <summary>The keys header the API adds to a predictions message: the same keys as the records' JSON, wanted predictors
/// only; anything cut short or of another version is refused (the join then reads the JSON).</summary>
public sealed class PredictionKeyHeaderTests
{
    private static readonly List<PredictionLog> Logs =
    [
        new(new DateTimeOffset(2026, 12, 7, 10, 0, 0, 123, TimeSpan.Zero), "d-1", "eta", "eta_v1", [], 12.5, []),
        new(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.FromHours(2)), "d-\u00e9\U0001F600", "eta", "eta_shadow", [], double.NaN, []),
        new(new DateTimeOffset(2026, 12, 7, 10, 0, 1, TimeSpan.Zero), new string('x', 300), "fraud", "gbm", [], double.NegativeInfinity, []),
        new(new DateTimeOffset(2026, 12, 7, 10, 0, 2, TimeSpan.Zero), "o-1", "other", "m", [], 3, []),
    ];

    [Fact]
    public void The_header_gives_the_keys_the_records_json_gives()
    {
        var plan = PredictionMessages.Plan(Logs, null, partitionCount: 1, maxMessageBytes: 1 << 20);
        var message = Assert.Single(plan.Messages);
        Assert.NotNull(message.Keys);

        var fromHeader = new List<PredictionKey>();
        Assert.Equal(4, PredictionKeyHeader.Decode(message.Keys, p => p is "eta" or "fraud", fromHeader));
        var fromJson = new List<PredictionKey>();
        var errors = new List<string>();
        PredictionKeys.Decode(message.Value, p => p is "eta" or "fraud", fromJson, errors);
        Assert.Empty(errors);
        Assert.Equal(fromJson, fromHeader);
        Assert.Equal(3, fromHeader.Count);
        Assert.Equal(TimeSpan.Zero, fromHeader[1].SentAt.Offset);
        Assert.Equal(new DateTimeOffset(2026, 12, 7, 10, 0, 0, TimeSpan.Zero), fromHeader[1].SentAt);
    }

    [Fact]
    public void A_header_cut_short_or_of_another_version_is_refused_and_adds_nothing()
    {
        var header = PredictionKeyHeader.Encode(Logs, [0, 1, 2, 3]);
        var keys = new List<PredictionKey> { default };
        for (var cut = 1; cut < header.Length; cut += 7)
        {
            Assert.Throws<FormatException>(() => PredictionKeyHeader.Decode(header.AsSpan(0, cut), _ => true, keys));
            Assert.Single(keys);
        }
        var other = (byte[])header.Clone();
        other[0] = 2;
        Assert.Throws<FormatException>(() => PredictionKeyHeader.Decode(other, _ => true, keys));
        Assert.Throws<FormatException>(() => PredictionKeyHeader.Decode([.. header, 0], _ => true, keys));
        Assert.Throws<FormatException>(() => PredictionKeyHeader.Decode(Encoding.UTF8.GetBytes("x"), _ => true, keys));
    }
}
