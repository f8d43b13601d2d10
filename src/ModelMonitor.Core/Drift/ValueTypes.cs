namespace ModelMonitor.Core.Drift;

/// <summary>The kinds of values a feature held (numbers, non-finite ones included; strings; booleans).</summary>
[Flags]
public enum ValueTypes
{
    None = 0,
    Numeric = 1,
    Categorical = 2,
    Boolean = 4,
}

/// <summary>Observed types and type skew (TFDV's type anomaly, SageMaker's data-type check).</summary>
public static class ObservedType
{
    public static ValueTypes Of(long numbers, long strings, long booleans) =>
        (numbers > 0 ? ValueTypes.Numeric : ValueTypes.None)
        | (strings > 0 ? ValueTypes.Categorical : ValueTypes.None)
        | (booleans > 0 ? ValueTypes.Boolean : ValueTypes.None);

    /// <summary>The kinds of values an accumulator counted.</summary>
    public static ValueTypes Of(Statistics.FeatureAccumulator feature)
    {
        ArgumentNullException.ThrowIfNull(feature);
        return Of(feature.Numeric.Count + feature.NonFiniteCount, feature.CategoricalCount - feature.BooleanCount, feature.BooleanCount);
    }

    /// <summary>How the type is stored and shown: none, numeric, categorical, boolean or mixed.</summary>
    public static string Name(ValueTypes types) => types switch
    {
        ValueTypes.None => "none",
        ValueTypes.Numeric => "numeric",
        ValueTypes.Categorical => "categorical",
        ValueTypes.Boolean => "boolean",
        _ => "mixed",
    };

    /// <summary>A type mismatch: the window holds a kind of value the reference never held (numbers in the reference,
    /// strings now). Nothing is a mismatch against an empty reference.</summary>
    public static bool Mismatch(ValueTypes reference, ValueTypes current) =>
        reference != ValueTypes.None && (current & ~reference) != ValueTypes.None;

    /// <summary>Whether a feature is compared as numbers (PSI, Jensen-Shannon, KS, Wasserstein) rather than as categories
    /// (L-infinity, Jensen-Shannon, PSI): by the reference's majority, numbers winning a tie.</summary>
    public static bool ComparedAsNumbers(long numbers, long strings, long booleans) => numbers >= strings + booleans && numbers > 0;
}
