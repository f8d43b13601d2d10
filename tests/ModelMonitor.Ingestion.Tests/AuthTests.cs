using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ModelMonitor.Core.Security;
using ModelMonitor.Security;
using ModelMonitor.Testing.Kafka;
using ModelMonitor.Testing.Metrics;
using ModelMonitor.Testing.Security;

namespace ModelMonitor.Ingestion.Tests;

/// <summary>
/// Authentication of the write endpoints (issue 18) against the real API in-process and the mock Kafka cluster: missing,
/// malformed, unknown, wrong, revoked and expired keys; scopes; predictor patterns per record; per-key rate limits; the
/// failed-authentication guard; X-Api-Key; Auth:Mode=None; the metrics token; no secret in the logs.
/// </summary>
public sealed class AuthTests(KafkaMockCluster kafka) : IClassFixture<KafkaMockCluster>, IDisposable
{
    private readonly TestKeysFile _keys = new();

    public void Dispose() => _keys.Dispose();

    private static string Record(string predictor, string id) =>
        $$"""{"sent_at":"{{DateTimeOffset.UtcNow.AddSeconds(-5):O}}","prediction_id":"{{id}}","predictor_name":"{{predictor}}","model_id":"m","features":{"x":1},"prediction_result":1}""";

    private IngestionApiFactory Api(Dictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?> { ["Auth:Mode"] = "ApiKeys", ["Auth:KeysFile"] = _keys.Path };
        foreach (var (k, v) in extra ?? [])
        {
            settings[k] = v;
        }
        return IngestionApiFactory.For(kafka, settings);
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> PostAsync(HttpClient client, string? key, string body,
        string path = "/v1/predictions", bool viaApiKeyHeader = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (key is not null)
        {
            if (viaApiKeyHeader)
            {
                request.Headers.TryAddWithoutValidation("X-Api-Key", key);
            }
            else
            {
                request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {key}");
            }
        }
        var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), response);
    }

    [Fact]
    public async Task A_request_without_a_usable_key_gets_401_with_a_bearer_challenge_saying_what_is_wrong()
    {
        _keys.Add("good", "write:predictions");
        var revoked = _keys.Add("gone", "write:predictions", revoked: DateTimeOffset.UtcNow.AddMinutes(-1));
        var expired = _keys.Add("old", "write:predictions", expires: DateTimeOffset.UtcNow.AddMinutes(-1));
        var wrongSecret = revoked[..17] + ApiKeyToken.New().Secret; // a real id with another secret
        await using var api = Api();
        using var client = api.CreateClient();
        var body = Record("eta", "1");

        var cases = new (string? Key, string Reason, string Says)[]
        {
            (null, "missing", "needs an API key"),
            ("not-a-key", "malformed", "is not one"),
            (ApiKeyToken.New().ToString(), "unknown", "not valid"),
            (wrongSecret, "wrong_secret", "not valid"),
            (revoked, "revoked", "was revoked"),
            (expired, "expired", "has expired"),
            ("mmk_abc\", error=\"injected_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "malformed", "is not one"), // header injection attempt
        };
        foreach (var (key, reason, says) in cases)
        {
            var (status, problem, response) = await PostAsync(client, key, body);
            Assert.True(status == HttpStatusCode.Unauthorized, $"{reason}: {status}");
            var challenge = Assert.Single(response.Headers.WwwAuthenticate);
            // Fixed text only: nothing the client sent comes back in a header.
            Assert.Equal(key is null ? "Bearer realm=\"ModelMonitor\"" : "Bearer realm=\"ModelMonitor\", error=\"invalid_token\"", challenge.ToString());
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains(says, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.DoesNotContain("injected", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        var metrics = await client.GetStringAsync("/metrics");
        foreach (var reason in new[] { "missing", "malformed", "unknown", "wrong_secret", "revoked", "expired" })
        {
            Assert.True(Exposition.Labelled(metrics, "modelmonitor_auth_failures_total", "reason", reason) >= 1, reason);
        }
        Assert.Equal(0, Exposition.Sample(metrics, "modelmonitor_auth_disabled"));
    }

    [Fact]
    public async Task A_key_writes_with_either_header_and_is_counted_by_its_id_never_its_secret()
    {
        var key = _keys.Add("writer", "write:predictions,write:outcomes");
        await using var api = Api();
        using var client = api.CreateClient();

        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(client, key, Record("eta", "a1"))).Status);
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(client, key, Record("eta", "a2"), viaApiKeyHeader: true)).Status);
        var outcome = $$"""{"prediction_id":"a1","predictor_name":"eta","actual":3,"observed_at":"{{DateTimeOffset.UtcNow.AddSeconds(-1):O}}"}""";
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(client, key, outcome, "/v1/outcomes")).Status);

        var exposition = await client.GetStringAsync("/metrics");
        Assert.True(ApiKeyToken.TryParse(key, out var token));
        Assert.Equal(3, Exposition.Labelled(exposition, "modelmonitor_auth_requests_total", "key_id", token.KeyId));
        Assert.DoesNotContain(token.Secret, exposition, StringComparison.Ordinal);
        Assert.Equal(2, kafka.ReadAll(api.Topic, expected: 2, TimeSpan.FromSeconds(20)).Count);
    }

    [Fact]
    public async Task A_key_without_the_scope_gets_403_naming_it()
    {
        var outcomesOnly = _keys.Add("labeller", "write:outcomes");
        await using var api = Api();
        using var client = api.CreateClient();

        var (status, problem, _) = await PostAsync(client, outcomesOnly, Record("eta", "1"));

        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("lacks the scope 'write:predictions'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, Exposition.Labelled(await client.GetStringAsync("/metrics"), "modelmonitor_auth_failures_total", "reason", "forbidden"));
    }

    [Fact]
    public async Task A_record_of_a_predictor_outside_the_keys_patterns_is_rejected_with_403_and_the_rest_of_the_batch_is_stored()
    {
        var eta = _keys.Add("eta-service", "write:predictions", predictors: "eta_*");
        await using var api = Api();
        using var client = api.CreateClient();

        var (status, body, _) = await PostAsync(client, eta, $"[{Record("eta_a", "p1")},{Record("fraud", "p2")},{Record("eta_b", "p3")}]");

        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal(2, body.GetProperty("accepted").GetInt32());
        Assert.Equal(1, body.GetProperty("rejected").GetInt32());
        var error = Assert.Single(body.GetProperty("errors").EnumerateArray());
        Assert.Equal(1, error.GetProperty("index").GetInt32());
        Assert.Equal(403, error.GetProperty("status").GetInt32());
        Assert.Equal("predictor_name", error.GetProperty("field").GetString());
        Assert.Contains("may not write predictor 'fraud'", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        var stored = kafka.ReadRecords(api.Topic, expected: 2, TimeSpan.FromSeconds(20));
        Assert.Equal(["p1", "p3"], stored.Select(r => r.Log.PredictionId).Order());

        // A batch of nothing but other predictors: 403, nothing stored.
        var (allStatus, all, _) = await PostAsync(client, eta, $"[{Record("fraud", "p4")}]");
        Assert.Equal(HttpStatusCode.Forbidden, allStatus);
        Assert.Equal(0, all.GetProperty("accepted").GetInt32());
        Assert.Equal(2, Exposition.Labelled(await client.GetStringAsync("/metrics"), "modelmonitor_ingest_predictions_rejected_total", "reason", "forbidden_predictor"));
    }

    [Fact]
    public async Task A_key_over_its_rate_gets_429_with_Retry_After_and_other_keys_are_not_held_back()
    {
        var noisy = _keys.Add("noisy", "write:predictions", rate: 1); // 1 request/s, a burst of 2
        var quiet = _keys.Add("quiet", "write:predictions");
        await using var api = Api();
        using var client = api.CreateClient();

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 6; i++)
        {
            var (status, _, response) = await PostAsync(client, noisy, Record("eta", $"n{i}"));
            statuses.Add(status);
            limited ??= status == HttpStatusCode.TooManyRequests ? response : null;
        }
        Assert.Contains(HttpStatusCode.Accepted, statuses);
        Assert.NotNull(limited);
        Assert.True(limited.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(client, quiet, Record("eta", "q"))).Status);

        Assert.True(ApiKeyToken.TryParse(noisy, out var token));
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Equal(statuses.Count(s => s == HttpStatusCode.TooManyRequests), Exposition.Labelled(metrics, "modelmonitor_auth_rate_limited_total", "key_id", token.KeyId));
    }

    [Fact]
    public async Task An_address_that_fails_too_often_is_refused_with_429_even_with_a_good_key_until_its_window_ends()
    {
        var good = _keys.Add("good", "write:predictions");
        await using var api = Api(new() { ["Auth:FailedAttempts:PermitLimit"] = "3", ["Auth:FailedAttempts:Window"] = "00:10:00" });
        using var client = api.CreateClient();

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await PostAsync(client, ApiKeyToken.New().ToString(), Record("eta", "x"))).Status);
        }
        var (status, problem, response) = await PostAsync(client, good, Record("eta", "y"));

        Assert.Equal(HttpStatusCode.TooManyRequests, status);
        Assert.Equal(TimeSpan.FromMinutes(10), response.Headers.RetryAfter?.Delta);
        Assert.Contains("Too many failed authentications", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, Exposition.Labelled(await client.GetStringAsync("/metrics"), "modelmonitor_auth_failures_total", "reason", "blocked"));
    }

    [Fact]
    public async Task With_Auth_Mode_None_anyone_writes_and_the_service_says_so()
    {
        await using var api = Api(new() { ["Auth:Mode"] = "None" });
        using var client = api.CreateClient();

        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(client, null, Record("eta", "1"))).Status);
        Assert.Equal(1, Exposition.Sample(await client.GetStringAsync("/metrics"), "modelmonitor_auth_disabled"));
    }

    [Fact]
    public async Task ApiKeys_mode_without_a_key_store_stops_the_service_at_start_saying_what_to_set()
    {
        await using var api = IngestionApiFactory.For(kafka, new Dictionary<string, string?> { ["Auth:Mode"] = "ApiKeys" });
        var error = Assert.ThrowsAny<Exception>(() => api.CreateClient());
        Assert.Contains("Auth:KeysFile", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_Metrics_RequireToken_metrics_and_readiness_need_the_token_and_liveness_does_not()
    {
        await using var api = Api(new() { ["Metrics:RequireToken"] = "true", ["Metrics:Token"] = "scrape-token-1" });
        using var client = api.CreateClient();

        foreach (var path in new[] { "/metrics", "/readyz" })
        {
            var refused = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.StartsWith("Bearer", refused.Headers.WwwAuthenticate.Single().ToString(), StringComparison.Ordinal);
            using var wrong = new HttpRequestMessage(HttpMethod.Get, path);
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "scrape-token-2");
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(wrong)).StatusCode);
            using var right = new HttpRequestMessage(HttpMethod.Get, path);
            right.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "scrape-token-1");
            Assert.NotEqual(HttpStatusCode.Unauthorized, (await client.SendAsync(right)).StatusCode);
        }
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
    }
}
