namespace ModelMonitor.Core.Security;

/// <summary>A stored API key: never the secret, only its salted hash.</summary>
/// <param name="RateLimit">Requests per second this key may make, or null for Auth:RateLimit:RequestsPerSecond.</param>
public sealed record ApiKey(
    string Id,
    string Name,
    string SecretHash,
    IReadOnlyList<string> Scopes,
    PredictorPatterns Predictors,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? RevokedAt,
    double? RateLimit)
{
    /// <summary>Why the key cannot be used at <paramref name="now"/> ("revoked", "expired"), or null when it can.</summary>
    public string? Unusable(DateTimeOffset now) =>
        RevokedAt is { } revoked && revoked <= now ? "revoked"
        : ExpiresAt is { } expires && expires <= now ? "expired"
        : null;

    public bool HasScope(string scope) => Scopes.Contains(scope, StringComparer.Ordinal);
}
