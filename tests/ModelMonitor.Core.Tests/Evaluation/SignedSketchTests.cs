using ModelMonitor.Core.Evaluation;
using ModelMonitor.Core.Statistics;

namespace ModelMonitor.Core.Tests.Evaluation;

public sealed class SignedSketchTests
{
    [Fact]
    public void Adds_and_retractions_in_any_order_and_grouping_leave_the_sketch_of_the_net_values()
    {
        var random = new Random(41);
        var values = Enumerable.Range(0, 3_000)
            .Select(_ => random.Next(10) == 0 ? 0 : Math.Exp((random.NextDouble() * 12) - 4) * (random.Next(5) == 0 ? -1 : 1))
            .ToArray();
        // Every value added once and a third of them retracted, in a random order, spread over four contributions.
        var operations = values.Select(v => (Value: v, Sign: 1))
            .Concat(values.Where((_, i) => i % 3 == 0).Select(v => (Value: v, Sign: -1)))
            .OrderBy(_ => random.Next())
            .ToArray();
        var parts = Enumerable.Range(0, 4).Select(_ => new SignedSketch()).ToArray();
        foreach (var (i, (value, sign)) in operations.Index())
        {
            parts[i % 4].Add(value, sign);
        }

        Assert.Contains(parts, p => !p.Retracted.IsEmpty); // retractions that came before their adds wait
        var merged = new SignedSketch();
        foreach (var part in parts)
        {
            merged.Merge(SignedSketch.Deserialize(part.Serialize().Held, part.Serialize().Retracted));
        }

        var expected = new DDSketch();
        foreach (var value in values.Where((_, i) => i % 3 != 0))
        {
            expected.Add(value);
        }

        Assert.Equal(expected.Serialize(), merged.Held.Serialize());
        Assert.True(merged.Retracted.IsEmpty);
        Assert.Equal(2_000, merged.Count);
    }

    [Fact]
    public void Sketches_of_another_accuracy_are_refused_with_a_format_error()
    {
        var other = new DDSketch(0.02).Serialize();
        var empty = new DDSketch().Serialize();
        Assert.Throws<FormatException>(() => SignedSketch.Deserialize(other, empty));
        Assert.Throws<FormatException>(() => SignedSketch.Deserialize(empty, new DDSketch(maxBinsPerSign: 10).Serialize()));
    }
}
