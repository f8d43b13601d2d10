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
/// A real Kestrel server on 127.0.0.1 with a free port that plays POST /v1/predictions: each request's
/// prediction ids are recorded, and <c>answer</c> decides the response from the request number and ids.
/// </summary>
internal sealed class FakeIngestionApi : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeIngestionApi(WebApplication app) => _app = app;

    public ConcurrentQueue<ReceivedRequest> Requests { get; } = new();

    public Uri Url { get; private set; } = null!;

    public static async Task<FakeIngestionApi> StartAsync(Func<int, IReadOnlyList<string>, IResult> answer)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var api = new FakeIngestionApi(app);
        var count = 0;
        app.MapPost("/v1/predictions", async (HttpRequest request) =>
        {
            using var document = await JsonDocument.ParseAsync(request.Body);
            var ids = document.RootElement.EnumerateArray().Select(r => r.GetProperty("prediction_id").GetString()!).ToList();
            var number = Interlocked.Increment(ref count);
            api.Requests.Enqueue(new ReceivedRequest(number, DateTimeOffset.UtcNow, ids, request.ContentType));
            return answer(number, ids);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        api.Url = new Uri(address + "/");
        return api;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>503 with Retry-After in seconds, as the API answers when Kafka is unavailable.</summary>
    public static IResult Unavailable(int retryAfterSeconds) => new UnavailableResult(retryAfterSeconds);

    internal sealed record ReceivedRequest(int Number, DateTimeOffset At, IReadOnlyList<string> Ids, string? ContentType);
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
