using Prometheus;

namespace ModelMonitor.Security;

/// <summary>The API's authentication metrics; labelled by key id (never a secret) or by reason, so their cardinality is
/// bounded by the keys that exist.</summary>
public sealed class AuthMetrics(IMetricFactory registry)
{
    public Gauge Disabled { get; } = registry.CreateGauge("modelmonitor_auth_disabled",
        "1 when the API runs without authentication (Auth:Mode=None): anyone who reaches it may write.");

    public Counter Authenticated { get; } = registry.CreateCounter("modelmonitor_auth_requests_total",
        "Requests authenticated with an API key, by key id.", ["key_id"]);

    public Counter Failures { get; } = registry.CreateCounter("modelmonitor_auth_failures_total",
        "Requests refused by authentication or authorization, by reason: missing, malformed, unknown, wrong_secret, revoked, expired, " +
        "blocked (the client address failed too often), forbidden (the key lacks the scope or predictor), unavailable (key store unreachable).",
        ["reason"]);

    public Counter RateLimited { get; } = registry.CreateCounter("modelmonitor_auth_rate_limited_total",
        "Requests refused with 429 because their key exceeded its rate (Auth:RateLimit), by key id.", ["key_id"]);
}
