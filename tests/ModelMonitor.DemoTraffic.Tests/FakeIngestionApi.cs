using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ModelMonitor.DemoTraffic.Tests;

/// <summary>
/// A real Kestrel server on 127.0.0.1 with a free port that plays POST /v1/predictions and POST /v1/outcomes: each
/// request's records are recorded, and <c>answer</c> decides the response to predictions from the request number and
/// ids (outcomes are all accepted).
/// </summary>
internal sealed class FakeIngestionApi : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeIngestionApi(WebApplication app) => _app = app;

    /// <summary>Requests to /v1/predictions.</summary>
    public ConcurrentQueue<ReceivedRequest> Requests { get; } = new();

    /// <summary>Requests to /v1/outcomes.</summary>
    public ConcurrentQueue<ReceivedRequest> OutcomeRequests { get; } = new();

    public Uri Url { get; private set; } = null!;

    public static async Task<FakeIngestionApi> StartAsync(Func<int, IReadOnlyList<string>, IResult> answer)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var api = new FakeIngestionApi(app);
        var count = 0;
        var outcomeCount = 0;
        app.MapPost("/v1/predictions", async (HttpRequest request) =>
        {
            var received = await ReceiveAsync(request, Interlocked.Increment(ref count));
            api.Requests.Enqueue(received);
            return answer(received.Number, received.Ids);
        });
        app.MapPost("/v1/outcomes", async (HttpRequest request) =>
        {
            var received = await ReceiveAsync(request, Interlocked.Increment(ref outcomeCount));
            api.OutcomeRequests.Enqueue(received);
            return Results.Json(new { accepted = received.Ids.Count, rejected = 0, errors = Array.Empty<object>() }, statusCode: 202);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        api.Url = new Uri(address + "/");
        return api;
    }

    /// <summary>Every record received at /v1/predictions.</summary>
    public List<JsonElement> Predictions() => [.. Requests.SelectMany(r => r.Records)];

    /// <summary>Every record received at /v1/outcomes.</summary>
    public List<JsonElement> Outcomes() => [.. OutcomeRequests.SelectMany(r => r.Records)];

    private static async Task<ReceivedRequest> ReceiveAsync(HttpRequest request, int number)
    {
        using var document = await JsonDocument.ParseAsync(request.Body);
        var records = document.RootElement.EnumerateArray().Select(r => r.Clone()).ToList();
        var ids = records.Select(r => r.GetProperty("prediction_id").GetString()!).ToList();
        return new ReceivedRequest(number, DateTimeOffset.UtcNow, ids, request.ContentType, records);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>503 with Retry-After in seconds, as the API answers when Kafka is unavailable.</summary>
    public static IResult Unavailable(int retryAfterSeconds) => new UnavailableResult(retryAfterSeconds);

    internal sealed record ReceivedRequest(int Number, DateTimeOffset At, IReadOnlyList<string> Ids, string? ContentType, IReadOnlyList<JsonElement> Records);
}

internal sealed class UnavailableResult(int retryAfterSeconds) : IResult
{
    public Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        httpContext.Response.Headers.RetryAfter = retryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return httpContext.Response.WriteAsJsonAsync(new { detail = "kafka unavailable" });
    }
}
