using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ModelMonitor.Deploy.Tests;

/// <summary>The on-call end of the end-to-end test: a Kestrel app on 127.0.0.1 (a free port) that keeps
/// every Alertmanager webhook notification POSTed to /alerts/{receiver}.</summary>
internal sealed class AlertWebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    private AlertWebhookReceiver(WebApplication app) => _app = app;

    /// <summary>Base URL; Alertmanager posts to {BaseUrl}/alerts/{receiver}.</summary>
    public string BaseUrl { get; private set; } = "";

    /// <summary>Notifications in arrival order: the path's receiver segment and the JSON body.</summary>
    public ConcurrentQueue<(string Receiver, JsonElement Body)> Notifications { get; } = new();

    public static async Task<AlertWebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var self = new AlertWebhookReceiver(app);
        app.MapPost("/alerts/{receiver}", async (string receiver, HttpRequest request) =>
        {
            using var body = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
            self.Notifications.Enqueue((receiver, body.RootElement.Clone()));
            return Results.Ok();
        });
        await app.StartAsync();
        self.BaseUrl = app.Urls.Single();
        return self;
    }

    /// <summary>Every alert of every notification, with the receiver it was routed to.</summary>
    public IEnumerable<(string Receiver, JsonElement Alert)> Alerts() =>
        Notifications.SelectMany(n => n.Body.GetProperty("alerts").EnumerateArray().Select(a => (n.Receiver, a)));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
