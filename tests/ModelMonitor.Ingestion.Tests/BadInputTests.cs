using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ModelMonitor.Testing.Kafka;
using ModelMonitor.Testing.Tools;

namespace ModelMonitor.Ingestion.Tests;

/// <summary>Hostile and broken requests each get their 4xx with a message, and the service keeps serving.</summary>
public sealed class BadInputTests : IClassFixture<KafkaMockCluster>, IAsyncLifetime
{
    private readonly IngestionApiFactory _api;
    private HttpClient _client = null!;

    public BadInputTests(KafkaMockCluster kafka) => _api = IngestionApiFactory.For(kafka);

    public Task InitializeAsync()
    {
        _client = _api.CreateClient();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _api.DisposeAsync();
    }

    private static string Now => DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture);

    private static string Valid(string features = "{\"x\":1}", string id = "ok") =>
        $$"""{"sent_at":"{{Now}}","prediction_id":"{{id}}","predictor_name":"p","model_id":"m","features":{{features}},"prediction_result":1}""";

    private async Task<(HttpStatusCode Status, string Body)> Post(byte[] body, string contentType = "application/json")
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        using var response = await _client.PostAsync("/v1/predictions", content);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private Task<(HttpStatusCode Status, string Body)> Post(string body, string contentType = "application/json") =>
        Post(Encoding.UTF8.GetBytes(body), contentType);

    private async Task AssertStillServing()
    {
        var (status, body) = await Post(Valid());
        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Contains("\"accepted\":1", body, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> MalformedBodies => new()
    {
        { "{\"sent_at\":\"2026-", "line 1" },
        { "[" + string.Join(",", Enumerable.Repeat("{}", 3)) + ",", "line 1" },
        { "{'single':'quotes'}", "line 1, byte 2" },
        { "{\"a\":1,}", "line 1" },
        { "// comment\n{}", "line 1, byte 1" },
        { "nul", "line 1" },
    };

    [Theory]
    [MemberData(nameof(MalformedBodies))]
    public async Task Truncated_or_invalid_JSON_gets_400_naming_the_position(string body, string where)
    {
        var (status, text) = await Post(body);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("detail").GetString();
        Assert.Contains("malformed JSON at " + where, error, StringComparison.Ordinal);
        await AssertStillServing();
    }

    [Theory]
    [InlineData("{\"x\":{\"y\":1}}", "features.x")]
    [InlineData("{\"x\":[1]}", "features.x")]
    [InlineData("{\"x\":1e400}", "features.x")]
    [InlineData("\"not an object\"", "features")]
    public async Task Wrong_types_and_out_of_range_numbers_get_400_with_the_field(string features, string field)
    {
        var (status, text) = await Post(Valid(features));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("errors")[0];
        Assert.Equal(0, error.GetProperty("index").GetInt32());
        Assert.Equal(field, error.GetProperty("field").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        await AssertStillServing();
    }

    [Fact]
    public async Task Deep_nesting_gets_400()
    {
        var (status, text) = await Post(new string('[', 200_000) + new string(']', 200_000));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("depth", text, StringComparison.OrdinalIgnoreCase);
        await AssertStillServing();
    }

    [Fact]
    public async Task A_hundred_thousand_features_get_400_too_many_features()
    {
        var features = "{" + string.Join(",", Enumerable.Range(0, 100_000).Select(i => $"\"f{i}\":{i}")) + "}";

        var (status, text) = await Post(Valid(features));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("more than 2000 features", text, StringComparison.Ordinal);
        await AssertStillServing();
    }

    [Fact]
    public async Task A_five_megabyte_string_gets_400_too_long()
    {
        var (status, text) = await Post(Valid($"{{\"s\":\"{new string('a', 5 * 1024 * 1024)}\"}}"));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("longer than 1024", text, StringComparison.Ordinal);
        await AssertStillServing();
    }

    [Fact]
    public async Task Invalid_UTF8_gets_400()
    {
        var bytes = Encoding.UTF8.GetBytes(Valid()).Concat(new byte[] { 0xFF, 0xFE }).ToArray();

        var (status, text) = await Post(bytes);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("not valid UTF-8", text, StringComparison.Ordinal);
        await AssertStillServing();
    }

    [Fact]
    public async Task Control_characters_in_names_get_400()
    {
        var body = $$"""{"sent_at":"{{Now}}","prediction_id":"x","predictor_name":"p\u0007","model_id":"m","features":{},"prediction_result":1}""";

        var (status, text) = await Post(body);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("control characters", text, StringComparison.Ordinal);
        await AssertStillServing();
    }

    [Fact]
    public async Task A_body_over_the_size_limit_gets_413()
    {
        var (status, text) = await Post(new byte[11 * 1024 * 1024]);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Contains("at most 10485760 bytes", text, StringComparison.Ordinal);
        await AssertStillServing();
    }

    [Fact]
    public async Task A_chunked_body_over_the_size_limit_gets_413()
    {
        using var content = new StreamContent(new MemoryStream(new byte[11 * 1024 * 1024]));
        content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/predictions") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        using var response = await _client.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        await AssertStillServing();
    }

    [Fact]
    public async Task More_than_ten_thousand_records_get_413()
    {
        var body = "[" + string.Join(",", Enumerable.Repeat(Valid(), 10_001)) + "]";

        var (status, text) = await Post(body);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Contains("at most 10000", text, StringComparison.Ordinal);
        await AssertStillServing();
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/xml")]
    public async Task A_wrong_content_type_gets_415(string contentType)
    {
        var (status, text) = await Post(Valid(), contentType);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, status);
        Assert.Contains("application/x-ndjson", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("application/json; charset=latin1", "latin1")]
    [InlineData("application/x-ndjson; charset=utf-16", "utf-16")]
    public async Task A_charset_other_than_UTF_8_gets_415_naming_the_charset(string contentType, string charset)
    {
        var (status, text) = await Post(Valid(), contentType);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, status);
        var detail = JsonDocument.Parse(text).RootElement.GetProperty("detail").GetString();
        Assert.Contains($"charset '{charset}' is not supported", detail, StringComparison.Ordinal);
        Assert.Contains("UTF-8", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Label_breaking_feature_names_keep_the_metrics_exposition_valid()
    {
        var (status, _) = await Post(Valid("{\"a\\\"b\\\\c\\nd}\":1,\"{le=\\\"x\\\"}\":2}"));
        Assert.Equal(HttpStatusCode.Accepted, status);
        await Post("{broken");

        var metrics = await _client.GetStringAsync("/metrics");
        await Promtool.AssertValidMetricsAsync(metrics);
    }
}
