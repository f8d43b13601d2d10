using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Dapper;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using ModelMonitor.Core.Security;
using ModelMonitor.Security;
using ModelMonitor.Storage.Audit;
using ModelMonitor.Testing.Kafka;
using ModelMonitor.Testing.Postgres;
using ModelMonitor.Testing.Waiting;

namespace ModelMonitor.Ingestion.Tests;

/// <summary>
/// Keys in Postgres, made and revoked by the keys command, read by the API through its cache: revocation within the TTL,
/// the admin endpoints' scope and predictor patterns, the audit log, and a key store outage.
/// </summary>
public sealed class KeyStoreTests(KafkaMockCluster kafka) : IClassFixture<KafkaMockCluster>
{
    private static string Record(string predictor, string id) =>
        $$"""{"sent_at":"{{DateTimeOffset.UtcNow.AddSeconds(-5):O}}","prediction_id":"{{id}}","predictor_name":"{{predictor}}","model_id":"m","features":{"x":1},"prediction_result":1}""";

    private static WebApplicationFactory<IngestionOptions> Api(KafkaMockCluster kafka, string connectionString) =>
        IngestionApiFactory.For(kafka, new Dictionary<string, string?> { ["Auth:Mode"] = "ApiKeys", ["Auth:CacheTtl"] = "00:00:01" })
            .WithWebHostBuilder(web => web.UseSetting("ConnectionStrings:Postgres", connectionString));

    private static async Task<(int Code, string Output, string Error)> KeysAsync(string connectionString, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await KeysCommand.RunAsync(["keys", .. args, "--connection-string", connectionString], output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, string? key, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        return await client.SendAsync(request);
    }

    [Fact]
    public async Task A_key_made_by_the_keys_command_writes_until_it_is_revoked_and_both_are_audited()
    {
        await using var database = await PostgresDatabaseFixture.CreateAsync("keys");
        var (code, output, error) = await KeysAsync(database.ConnectionString, "create", "--name", "eta service", "--scopes", "write:predictions", "--predictors", "eta_*");
        Assert.True(code == 0, error);
        var key = output.Trim();
        Assert.True(ApiKeyToken.TryParse(key, out var token), output);
        Assert.Contains($"Created API key {token.KeyId}", error, StringComparison.Ordinal);
        // Only the hash is stored, and the list never shows a secret.
        await using (var connection = await database.DataSource.OpenConnectionAsync())
        {
            var stored = await connection.QuerySingleAsync<string>("SELECT secret_hash FROM api_keys WHERE key_id = @id", new { id = token.KeyId });
            Assert.True(ApiKeyHash.Verify(token.Secret, stored));
            Assert.DoesNotContain(token.Secret, stored, StringComparison.Ordinal);
        }
        var list = await KeysAsync(database.ConnectionString, "list");
        Assert.Contains(token.KeyId, list.Output, StringComparison.Ordinal);
        Assert.Contains("active", list.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(token.Secret, list.Output, StringComparison.Ordinal);

        await using var api = Api(kafka, database.ConnectionString);
        using var client = api.CreateClient();
        Assert.Equal(HttpStatusCode.Accepted, (await SendAsync(client, HttpMethod.Post, "/v1/predictions", key, Record("eta_a", "1"))).StatusCode);

        var revoke = await KeysAsync(database.ConnectionString, "revoke", token.KeyId);
        Assert.True(revoke.Code == 0, revoke.Error);
        // Refused within the cache's lifetime (1 s here): at once or after it, never later.
        var revokedAt = DateTime.UtcNow;
        await Eventually.UntilAsync(async () =>
            (await SendAsync(client, HttpMethod.Post, "/v1/predictions", key, Record("eta_a", "2"))).StatusCode == HttpStatusCode.Unauthorized,
            TimeSpan.FromSeconds(10), "the revoked key is refused");
        Assert.True(DateTime.UtcNow - revokedAt < TimeSpan.FromSeconds(5));
        Assert.Contains("revoked", (await KeysAsync(database.ConnectionString, "list")).Output, StringComparison.Ordinal);
        Assert.Equal(1, (await KeysAsync(database.ConnectionString, "revoke", token.KeyId)).Code); // nothing left to revoke

        var audit = await AdminAudit.ReadAsync(database.DataSource, 10, CancellationToken.None);
        Assert.Equal(["revoke_key", "create_key"], audit.Select(a => a.Action));
        Assert.All(audit, a => Assert.Equal(token.KeyId, a.Target));
        Assert.All(audit, a => Assert.StartsWith("cli:", a.Actor, StringComparison.Ordinal));
        Assert.Contains("\"eta_*\"", audit[1].Details, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_registry_needs_the_admin_scope_and_a_predictor_within_the_keys_patterns_and_audits_the_key()
    {
        await using var database = await PostgresDatabaseFixture.CreateAsync("keys");
        var admin = (await KeysAsync(database.ConnectionString, "create", "--name", "eta admin", "--scopes", "admin", "--predictors", "eta_*")).Output.Trim();
        var writer = (await KeysAsync(database.ConnectionString, "create", "--name", "writer", "--scopes", "write:predictions")).Output.Trim();
        Assert.True(ApiKeyToken.TryParse(admin, out var adminToken));
        await using var api = Api(kafka, database.ConnectionString);
        using var client = api.CreateClient();
        const string registration = """{"primary_model_id":"v1","shadow_model_ids":["v2"]}""";

        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(client, HttpMethod.Put, "/v1/predictors/eta_x", null, registration)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(client, HttpMethod.Put, "/v1/predictors/eta_x", writer, registration)).StatusCode);
        var outside = await SendAsync(client, HttpMethod.Put, "/v1/predictors/fraud", admin, registration);
        Assert.Equal(HttpStatusCode.Forbidden, outside.StatusCode);
        Assert.Contains("may not write predictor 'fraud'", await outside.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(client, HttpMethod.Put, "/v1/predictors/eta_x", admin, registration)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(client, HttpMethod.Delete, "/v1/references/fraud/v1?name=training", admin)).StatusCode);

        // Reads need any key, and show only the key's predictors.
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(client, HttpMethod.Get, "/v1/predictors", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(client, HttpMethod.Put, "/v1/predictors/eta_y", admin, registration)).StatusCode);
        var all = (await KeysAsync(database.ConnectionString, "create", "--name", "all", "--scopes", "admin")).Output.Trim();
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(client, HttpMethod.Put, "/v1/predictors/fraud", all, registration)).StatusCode);
        var listed = JsonDocument.Parse(await (await SendAsync(client, HttpMethod.Get, "/v1/predictors", writer)).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(3, listed.GetProperty("predictors").GetArrayLength());
        listed = JsonDocument.Parse(await (await SendAsync(client, HttpMethod.Get, "/v1/predictors", admin)).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(["eta_x", "eta_y"], listed.GetProperty("predictors").EnumerateArray().Select(p => p.GetProperty("predictor_name").GetString()).Order());

        var audit = await AdminAudit.ReadAsync(database.DataSource, 20, CancellationToken.None);
        var put = Assert.Single(audit, a => a.Action == "put_predictor" && a.PredictorName == "eta_x");
        Assert.Equal($"key:{adminToken.KeyId}", put.Actor);
    }

    [Fact]
    public async Task When_the_key_store_cannot_be_read_a_key_seen_before_still_writes_and_an_unseen_one_gets_503()
    {
        await using var database = await PostgresDatabaseFixture.CreateAsync("keys");
        var seen = (await KeysAsync(database.ConnectionString, "create", "--name", "seen", "--scopes", "write:predictions")).Output.Trim();
        var unseen = (await KeysAsync(database.ConnectionString, "create", "--name", "unseen", "--scopes", "write:predictions")).Output.Trim();
        await using var api = Api(kafka, database.ConnectionString);
        using var client = api.CreateClient();
        Assert.Equal(HttpStatusCode.Accepted, (await SendAsync(client, HttpMethod.Post, "/v1/predictions", seen, Record("eta", "1"))).StatusCode);

        // The table goes away (as good as an unreachable Postgres for the lookup); the cache (1 s) expires.
        await using (var connection = await database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("ALTER TABLE api_keys RENAME TO api_keys_away");
        }
        await Task.Delay(TimeSpan.FromSeconds(1.5));

        Assert.Equal(HttpStatusCode.Accepted, (await SendAsync(client, HttpMethod.Post, "/v1/predictions", seen, Record("eta", "2"))).StatusCode);
        var refused = await SendAsync(client, HttpMethod.Post, "/v1/predictions", unseen, Record("eta", "3"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter);
        Assert.Contains("key store is unreachable", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}

/// <summary>The keys command with a keys file (Auth:KeysFile): what it writes, lists, revokes and refuses.</summary>
public sealed class KeysCommandTests : IDisposable
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"mm-keys-{Guid.NewGuid():N}.yml");

    public void Dispose() => File.Delete(_file);

    private static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await KeysCommand.RunAsync(["keys", .. args], output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Create_list_and_revoke_with_a_keys_file_store_only_hashes()
    {
        var created = await RunAsync("create", "--name", "batch job", "--scopes", "write:outcomes", "--predictors", "eta_*,fraud", "--expires", "30d",
            "--rate-limit", "5", "--file", _file);
        Assert.True(created.Code == 0, created.Error);
        Assert.True(ApiKeyToken.TryParse(created.Output.Trim(), out var token));
        var text = await File.ReadAllTextAsync(_file);
        Assert.DoesNotContain(token.Secret, text, StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_file));
        }
        var key = Assert.Single(KeysFile.Read(text, _file));
        Assert.Equal((token.KeyId, "batch job", 5.0), (key.Id, key.Name, key.RateLimit));
        Assert.Equal(["write:outcomes"], key.Scopes);
        Assert.Equal(["eta_*", "fraud"], key.Predictors.Patterns);
        Assert.InRange(key.ExpiresAt!.Value, DateTimeOffset.UtcNow.AddDays(29.9), DateTimeOffset.UtcNow.AddDays(30.1));
        Assert.True(ApiKeyHash.Verify(token.Secret, key.SecretHash));

        var second = await RunAsync("create", "--name", "other", "--scopes", "admin", "--file", _file);
        Assert.Equal(0, second.Code);
        Assert.Equal(2, KeysFile.Read(await File.ReadAllTextAsync(_file), _file).Count);

        var list = await RunAsync("list", "--file", _file);
        Assert.Contains(token.KeyId, list.Output, StringComparison.Ordinal);
        Assert.Equal(0, (await RunAsync("revoke", token.KeyId, "--file", _file)).Code);
        Assert.NotNull(KeysFile.Read(await File.ReadAllTextAsync(_file), _file).Single(k => k.Id == token.KeyId).RevokedAt);
        Assert.Contains("revoked", (await RunAsync("list", "--file", _file)).Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("create --scopes admin", "--name is required")]
    [InlineData("create --name x --scopes read:all", "unknown scope 'read:all'")]
    [InlineData("create --name x --scopes admin --expires yesterday", "--expires must be")]
    [InlineData("create --name x --scopes admin --rate-limit -1", "--rate-limit must be")]
    [InlineData("create --name x --scopes admin --colour red", "unknown or incomplete option '--colour'")]
    [InlineData("revoke not-an-id", "is not a key id")]
    [InlineData("rotate", "unknown keys command 'rotate'")]
    public async Task Bad_usage_exits_2_saying_what_is_wrong(string args, string says)
    {
        var (code, _, error) = await RunAsync([.. args.Split(' '), "--file", _file]);
        Assert.Equal(2, code);
        Assert.Contains(says, error, StringComparison.Ordinal);
        Assert.Contains("usage: keys create", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_keys_file_with_a_bad_entry_is_refused_naming_it()
    {
        var error = Assert.Throws<FormatException>(() => KeysFile.Read("keys:\n- id: short\n  secret_hash: sha256$a$b\n  scopes: [admin]\n  predictors: ['*']\n", "k.yml"));
        Assert.Contains("k.yml: keys[0].id", error.Message, StringComparison.Ordinal);
        error = Assert.Throws<FormatException>(() => KeysFile.Read("keys:\n- id: abcdefghijkl\n  secret_hash: sha256$a$b\n  scopes: [root]\n  predictors: ['*']\n", "k.yml"));
        Assert.Contains("keys[0].scopes: unknown scope 'root'", error.Message, StringComparison.Ordinal);
    }
}
