namespace ModelMonitor.Core.Statistics;

/// <summary>Everything kept for one model in one window: prediction count and prediction_result statistics.</summary>
public sealed class ModelAccumulator
{
    public ModelAccumulator()
        : this(new NumericDistribution())
    {
    }

    private ModelAccumulator(NumericDistribution result) => Result = result;

    public long PredictionCount { get; private set; }

    /// <summary>prediction_result values that were NaN or ±Infinity.</summary>
    public long NonFiniteCount { get; private set; }

    /// <summary>The distribution of finite prediction_result values.</summary>
    public NumericDistribution Result { get; }

    /// <summary>Approximate bytes held in memory.</summary>
    public long EstimatedBytes => 40 + Result.EstimatedBytes;

    /// <summary>Replaces the counts by stored ones (the result's distribution is loaded through <see cref="Result"/>).</summary>
    public void LoadCounts(long predictionCount, long nonFiniteCount) => (PredictionCount, NonFiniteCount) = (predictionCount, nonFiniteCount);

    /// <summary>Empties the accumulator (as new), keeping its memory for reuse.</summary>
    public void Reset()
    {
        (PredictionCount, NonFiniteCount) = (0, 0);
        Result.Reset();
    }

    /// <summary>Counts one prediction and its result.</summary>
    public void Add(double predictionResult)
    {
        PredictionCount++;
        if (double.IsFinite(predictionResult))
        {
            Result.Add(predictionResult);
        }
        else
        {
            NonFiniteCount++;
        }
    }

    public void Merge(ModelAccumulator other)
    {
        ArgumentNullException.ThrowIfNull(other);
        PredictionCount += other.PredictionCount;
        NonFiniteCount += other.NonFiniteCount;
        Result.Merge(other.Result);
    }
}
