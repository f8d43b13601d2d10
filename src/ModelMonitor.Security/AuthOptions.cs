using Microsoft.Extensions.Options;

namespace ModelMonitor.Security;

public enum AuthMode
{
    /// <summary>Every write endpoint needs an API key with its scope.</summary>
    ApiKeys,

    /// <summary>No authentication (a warning at start, <c>modelmonitor_auth_disabled 1</c>): for a trusted network only.</summary>
    None,
}

/// <summary>The "Auth" section: who may write (README "Security", docs/security.md).</summary>
public sealed class AuthOptions
{
    public const string SectionName = "Auth";

    public AuthMode Mode { get; set; } = AuthMode.ApiKeys;

    /// <summary>A keys file (YAML, written by <c>keys create --file</c>), for deployments whose API has no write access to
    /// Postgres or no Postgres at all. Read at start and again whenever it changes. Keys in Postgres are used as well when
    /// ConnectionStrings:Postgres is set.</summary>
    public string? KeysFile { get; set; }

    /// <summary>How long a looked-up key (or the absence of one) is trusted before it is read again: a revocation takes
    /// effect within this time.</summary>
    public TimeSpan CacheTtl { get; set; } = TimeSpan.FromSeconds(30);

    public RateLimitSettings RateLimit { get; set; } = new();

    public FailedAttemptSettings FailedAttempts { get; set; } = new();

    public sealed class RateLimitSettings
    {
        /// <summary>Requests per second each key may make (a key's own rate_limit overrides it); 0 turns per-key limits off.</summary>
        public double RequestsPerSecond { get; set; } = 200;

        /// <summary>How many requests a key may make at once above its rate (the token bucket's size); default 2 s worth.</summary>
        public int? Burst { get; set; }
    }

    public sealed class FailedAttemptSettings
    {
        /// <summary>Failed authentications a client address may make per window; beyond them its requests with a key get 429
        /// until the window ends (brute force, a misconfigured client hammering with a revoked key).</summary>
        public int PermitLimit { get; set; } = 30;

        public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);
    }

    internal sealed class Validator : IValidateOptions<AuthOptions>
    {
        public ValidateOptionsResult Validate(string? name, AuthOptions options)
        {
            var errors = new List<string>();
            if (!Enum.IsDefined(options.Mode))
            {
                errors.Add($"Auth:Mode must be ApiKeys or None (got '{options.Mode}').");
            }
            if (options.CacheTtl < TimeSpan.Zero || options.CacheTtl > TimeSpan.FromHours(1))
            {
                errors.Add($"Auth:CacheTtl must be between 0 and 1 hour (got {options.CacheTtl}).");
            }
            if (options.RateLimit.RequestsPerSecond < 0 || !double.IsFinite(options.RateLimit.RequestsPerSecond))
            {
                errors.Add($"Auth:RateLimit:RequestsPerSecond must be 0 (off) or positive (got {options.RateLimit.RequestsPerSecond}).");
            }
            if (options.RateLimit.Burst is < 1)
            {
                errors.Add($"Auth:RateLimit:Burst must be at least 1 (got {options.RateLimit.Burst}).");
            }
            if (options.FailedAttempts.PermitLimit < 1 || options.FailedAttempts.Window <= TimeSpan.Zero)
            {
                errors.Add("Auth:FailedAttempts:PermitLimit must be at least 1 and Auth:FailedAttempts:Window positive.");
            }
            return errors.Count > 0 ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
        }
    }

    /// <summary>The token bucket of a key: its rate (its own, else the default) and burst; null when unlimited.</summary>
    internal (int TokensPerSecond, int Burst)? BucketOf(double? keyRate)
    {
        var rate = keyRate ?? RateLimit.RequestsPerSecond;
        if (rate <= 0)
        {
            return null;
        }
        var perSecond = (int)Math.Max(1, Math.Ceiling(rate));
        return (perSecond, RateLimit.Burst ?? perSecond * 2);
    }
}
