using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using ModelMonitor.Core.Security;

namespace ModelMonitor.Security;

/// <summary>
/// The API key scheme: <c>Authorization: Bearer mmk_…</c>, or <c>X-Api-Key: mmk_…</c> for clients that cannot set
/// Authorization. A request without a usable key gets 401 with <c>WWW-Authenticate: Bearer</c> (RFC 6750) and a problem
/// body saying what was wrong; a key without the endpoint's scope 403; an address that failed too often 429; a key that
/// cannot be checked because the key store is down 503. Nothing the client sent is echoed into a header.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggers,
    UrlEncoder encoder,
    IOptions<AuthOptions> auth,
    ApiKeyDirectory directory,
    FailedAuthenticationGuard guard,
    AuthMetrics metrics,
    TimeProvider time,
    IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggers, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string ApiKeyHeader = "X-Api-Key";
    public const string KeyIdClaim = "key_id";
    public const string ScopeClaim = "scope";
    private const string FailureItem = "ModelMonitor.AuthFailure";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (auth.Value.Mode == AuthMode.None)
        {
            return Succeed(Caller.Anonymous(Context));
        }
        if (Presented(Request.Headers) is not { } presented)
        {
            return Failed("missing", record: false);
        }
        var address = Context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        if (guard.IsBlocked(address))
        {
            return Failed("blocked", record: false);
        }
        if (!ApiKeyToken.TryParse(presented, out var token))
        {
            return Failed("malformed", address);
        }
        ApiKey? key;
        try
        {
            key = await directory.FindAsync(token.KeyId, Context.RequestAborted);
        }
        catch (KeyStoreUnavailableException e)
        {
            Logger.LogWarning("Cannot check API key {KeyId}: {Error}", token.KeyId, e.Message);
            return Failed("unavailable", record: false);
        }
        if (key is null || !ApiKeyHash.Verify(token.Secret, key.SecretHash))
        {
            return Failed(key is null ? "unknown" : "wrong_secret", address, token.KeyId);
        }
        if (key.Unusable(time.GetUtcNow()) is { } why)
        {
            return Failed(why, address, key.Id);
        }
        metrics.Authenticated.WithLabels(key.Id).Inc();
        return Succeed(Caller.Of(key));
    }

    /// <summary>The key a request presents: the Authorization header's bearer credentials, else X-Api-Key.</summary>
    internal static string? Presented(IHeaderDictionary headers)
    {
        if (headers.Authorization is { Count: > 0 } authorization)
        {
            var value = authorization.ToString().AsSpan().Trim();
            return value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? value[7..].Trim().ToString() : value.ToString();
        }
        return headers.TryGetValue(ApiKeyHeader, out var apiKey) && !StringValues.IsNullOrEmpty(apiKey) ? apiKey.ToString().Trim() : null;
    }

    private AuthenticateResult Succeed(Caller caller)
    {
        Context.Features.Set(caller);
        var claims = new List<Claim> { new(KeyIdClaim, caller.KeyId) };
        claims.AddRange(caller.Scopes.Select(s => new Claim(ScopeClaim, s)));
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName, KeyIdClaim, null)), SchemeName));
    }

    private AuthenticateResult Failed(string reason, string? address = null, string? keyId = null, bool record = true)
    {
        Context.Items[FailureItem] = (reason, keyId);
        if (record && address is not null)
        {
            guard.RecordFailure(address);
        }
        return reason == "missing" ? AuthenticateResult.NoResult() : AuthenticateResult.Fail(reason);
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var (reason, keyId) = Context.Items[FailureItem] is ValueTuple<string, string?> failure ? failure : ("missing", null);
        metrics.Failures.WithLabels(reason).Inc();
        switch (reason)
        {
            case "blocked":
                Response.Headers.RetryAfter = ((int)Math.Ceiling(guard.Window.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                return WriteProblemAsync(StatusCodes.Status429TooManyRequests,
                    $"Too many failed authentications from this address: requests with a key are refused for up to {guard.Window.TotalSeconds:0} s.");
            case "unavailable":
                Response.Headers.RetryAfter = "5";
                return WriteProblemAsync(StatusCodes.Status503ServiceUnavailable,
                    "The API key cannot be checked now (the key store is unreachable); nothing was stored, retry later.");
        }
        // RFC 6750: the challenge names the scheme; error codes are fixed strings, never anything the client sent.
        Response.Headers.WWWAuthenticate = reason == "missing"
            ? "Bearer realm=\"ModelMonitor\""
            : "Bearer realm=\"ModelMonitor\", error=\"invalid_token\"";
        return WriteProblemAsync(StatusCodes.Status401Unauthorized, reason switch
        {
            "missing" => "This endpoint needs an API key: send 'Authorization: Bearer <key>' (or 'X-Api-Key: <key>'). Keys are made with the keys command (README, Security).",
            "malformed" => $"The API key is not one: a key looks like {ApiKeyToken.Prefix}<12 characters>_<43 characters>, as the keys command printed it.",
            "revoked" => $"The API key {keyId} was revoked.",
            "expired" => $"The API key {keyId} has expired.",
            _ => "The API key is not valid (no such key, or its secret does not match).",
        });
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        metrics.Failures.WithLabels("forbidden").Inc();
        var caller = Context.Caller();
        var scope = Context.GetEndpoint()?.Metadata.GetMetadata<RequiredScope>()?.Scope;
        return WriteProblemAsync(StatusCodes.Status403Forbidden, scope is null
            ? $"The API key {caller.KeyId} may not do this."
            : $"The API key {caller.KeyId} lacks the scope '{scope}' this endpoint needs (it has: {string.Join(", ", caller.Scopes)}).");
    }

    private Task WriteProblemAsync(int status, string detail)
    {
        Response.StatusCode = status;
        return problems.WriteAsync(new ProblemDetailsContext { HttpContext = Context, ProblemDetails = { Status = status, Detail = detail } }).AsTask();
    }
}

/// <summary>Endpoint metadata: the scope an endpoint requires (for the 403's message).</summary>
public sealed record RequiredScope(string Scope);
