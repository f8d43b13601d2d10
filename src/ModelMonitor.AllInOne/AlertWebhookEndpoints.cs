using System.Text.Json;

namespace ModelMonitor.AllInOne;

/// <summary>
/// The local run's Alertmanager receiver: POST /local/alerts/{receiver} takes Alertmanager's webhook JSON
/// and logs each alert, so an incident visibly reaches "on-call" without Slack or PagerDuty.
/// </summary>
internal static class AlertWebhookEndpoints
{
    public static WebApplication MapLocalAlertWebhook(this WebApplication app)
    {
        app.MapPost("/local/alerts/{receiver}", async (string receiver, HttpRequest request, ILoggerFactory loggers) =>
        {
            var logger = loggers.CreateLogger("ModelMonitor.Alerts");
            using var payload = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
            if (!payload.RootElement.TryGetProperty("alerts", out var alerts) || alerts.ValueKind != JsonValueKind.Array)
            {
                return Results.BadRequest(new { error = "expected Alertmanager's webhook JSON with an \"alerts\" array" });
            }
            foreach (var alert in alerts.EnumerateArray())
            {
                logger.LogWarning("ALERT {Status} to {Receiver}: {AlertName} {Summary}",
                    alert.GetProperty("status").GetString(), receiver,
                    Label(alert, "labels", "alertname"), Label(alert, "annotations", "summary"));
            }
            return Results.Ok();
        });
        return app;
    }

    private static string Label(JsonElement alert, string group, string name) =>
        alert.TryGetProperty(group, out var labels) && labels.TryGetProperty(name, out var value) ? value.GetString() ?? "" : "";
}
