namespace ModelMonitor.Core.Predictors;

/// <summary>The role label of modelmonitor_model_info.</summary>
public static class ModelRole
{
    public const string Primary = "primary";
    public const string Shadow = "shadow";
    public const string InferredPrimary = "inferred_primary";
    public const string Candidate = "candidate";
}

/// <summary>
/// Who is whose primary. A predictor registered with a primary: that model is <c>primary</c>, its listed shadows
/// <c>shadow</c>, any other model <c>candidate</c>. Otherwise (zero onboarding): the model with the most predictions in the
/// last hour is <c>inferred_primary</c> and every other one <c>candidate</c>; to keep two models of about equal traffic from
/// taking turns, the current inferred primary stays until another has <see cref="SwitchFactor"/> times its traffic (or it
/// has none). Pure: the aggregator's primary watcher records what this decides, the exporter and the API read it.
/// </summary>
public static class ModelRoles
{
    /// <summary>How much more traffic a model needs to take over as inferred primary.</summary>
    public const double SwitchFactor = 1.2;

    /// <summary>The primary of a predictor: the registered one, else the inferred one (null: no model has traffic).</summary>
    /// <param name="registeredPrimary">The registration's primary_model_id, if any.</param>
    /// <param name="current">The inferred primary recorded so far, if any.</param>
    /// <param name="lastHour">Predictions per model in the last hour (retired models left out).</param>
    public static (string ModelId, bool Registered)? PrimaryOf(string? registeredPrimary, string? current, IReadOnlyDictionary<string, long> lastHour)
    {
        if (registeredPrimary is not null)
        {
            return (registeredPrimary, true);
        }
        string? busiest = null;
        var most = 0L;
        foreach (var (model, count) in lastHour.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            if (count > most)
            {
                (busiest, most) = (model, count);
            }
        }
        if (busiest is null)
        {
            return current is null ? null : (current, false); // no traffic in the last hour: nothing to change
        }
        var currentCount = current is null ? 0 : lastHour.GetValueOrDefault(current);
        return current is not null && currentCount > 0 && most < currentCount * SwitchFactor ? (current, false) : (busiest, false);
    }

    /// <summary>The role of a model of a predictor whose primary is <paramref name="primary"/>.</summary>
    public static string RoleOf(string modelId, (string ModelId, bool Registered)? primary, IReadOnlyCollection<string> registeredShadows)
    {
        if (primary is { } p && p.ModelId == modelId)
        {
            return p.Registered ? ModelRole.Primary : ModelRole.InferredPrimary;
        }
        return registeredShadows.Contains(modelId) ? ModelRole.Shadow : ModelRole.Candidate;
    }
}
