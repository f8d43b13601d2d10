using ModelMonitor.Core.Statistics;

namespace ModelMonitor.Core.Evaluation;

/// <summary>
/// A <see cref="DDSketch"/> (default accuracy) whose values are added and retracted in any order: a retraction takes its
/// value out of <see cref="Held"/> when its bin is there, else waits in <see cref="Retracted"/> until an add or a merge
/// brings the value (a contribution that retracts a pair held by the state it is merged into). A bin is never non-empty
/// on both sides, so a retraction that met its add leaves exactly the sketch of the remaining values.
/// </summary>
internal sealed class SignedSketch
{
    public DDSketch Held { get; private set; } = new();

    public DDSketch Retracted { get; private set; } = new();

    /// <summary>Values held minus values retracted.</summary>
    public long Count => Held.Count - Retracted.Count;

    public bool IsEmpty => Held.IsEmpty && Retracted.IsEmpty;

    /// <summary>Adds <paramref name="count"/> times the value, or retracts it −<paramref name="count"/> times.</summary>
    public void Add(double value, long count)
    {
        var (into, from) = count > 0 ? (Held, Retracted) : (Retracted, Held);
        count = Math.Abs(count);
        var cancelled = Math.Min(count, from.CountAt(value));
        from.Remove(value, cancelled);
        into.Add(value, count - cancelled);
    }

    public void Merge(SignedSketch other)
    {
        if (Retracted.IsEmpty && other.Retracted.IsEmpty)
        {
            Held.Merge(other.Held); // bin by bin, the usual case
            return;
        }

        // Each bin through its representative value, which maps back to the same bin.
        var points = new List<SketchPoint>();
        other.Held.CopyPoints(points);
        foreach (var point in points)
        {
            Add(point.Value, point.Count);
        }

        other.Retracted.CopyPoints(points);
        foreach (var point in points)
        {
            Add(point.Value, -point.Count);
        }
    }

    public (byte[] Held, byte[] Retracted) Serialize() => (Held.Serialize(), Retracted.Serialize());

    /// <summary>Reads the two sketches <see cref="Serialize"/> wrote; throws <see cref="FormatException"/> unless both have
    /// the default accuracy and bound.</summary>
    public static SignedSketch Deserialize(ReadOnlySpan<byte> held, ReadOnlySpan<byte> retracted)
    {
        var sketch = new SignedSketch { Held = DDSketch.Deserialize(held), Retracted = DDSketch.Deserialize(retracted) };
        foreach (var side in (ReadOnlySpan<DDSketch>)[sketch.Held, sketch.Retracted])
        {
            if (side.RelativeAccuracy != DDSketch.DefaultRelativeAccuracy || side.MaxBinsPerSign != DDSketch.DefaultMaxBinsPerSign)
            {
                throw new FormatException("A sketch of a serialized evaluation has another accuracy or bound.");
            }
        }

        return sketch;
    }
}
