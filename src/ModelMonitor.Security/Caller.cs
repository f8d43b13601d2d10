using Microsoft.AspNetCore.Http;
using ModelMonitor.Core.Security;

namespace ModelMonitor.Security;

/// <summary>Who is making a request: the key (its id, scopes and predictors), or nobody in particular when Auth:Mode=None.</summary>
public sealed record Caller(string KeyId, PredictorPatterns Predictors, IReadOnlyList<string> Scopes, double? RateLimit, string Actor)
{
    /// <summary>The key id of an unauthenticated caller (Auth:Mode=None).</summary>
    public const string AnonymousId = "anonymous";

    public bool IsAnonymous => KeyId == AnonymousId;

    public static Caller Anonymous(HttpContext context) =>
        new(AnonymousId, PredictorPatterns.Any, ApiScopes.All, null, $"anonymous:{context.Connection.RemoteIpAddress?.ToString() ?? "local"}");

    public static Caller Of(ApiKey key) => new(key.Id, key.Predictors, key.Scopes, key.RateLimit, $"key:{key.Id}");

    /// <summary>What a 403 says of a predictor outside the key's patterns.</summary>
    public string ForbiddenPredictor(string predictorName) =>
        $"the API key {KeyId} may not write predictor '{predictorName}' (it is limited to {Predictors})";
}

public static class CallerExtensions
{
    /// <summary>The request's caller; an anonymous one when the endpoint did not require authentication.</summary>
    public static Caller Caller(this HttpContext context) => context.Features.Get<Caller>() ?? Security.Caller.Anonymous(context);
}
