using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace ModelMonitor.Exporter.Tests;

/// <summary>The exporter host in process on a Postgres database, refreshing every second with no completion delay.</summary>
internal static class ExporterHost
{
    public static WebApplicationFactory<Program> On(string connectionString, params (string Key, string Value)[] settings) =>
        On(connectionString, null, settings);

    /// <param name="time">The clock of the host (pages and refreshes); null: the system's.</param>
    public static WebApplicationFactory<Program> On(string connectionString, TimeProvider? time, params (string Key, string Value)[] settings) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            if (time is not null)
            {
                web.ConfigureServices(services => services.AddSingleton(time));
            }
            web.UseSetting("ConnectionStrings:Postgres", connectionString);
            web.UseSetting("Exporter:RefreshInterval", "00:00:01");
            web.UseSetting("Exporter:CompletionDelay", "00:00:00");
            foreach (var (key, value) in settings)
            {
                web.UseSetting(key, value);
            }
        });

    /// <summary>Waits until /readyz answers 200 (after the first refresh: the console's latest window is published), 30 s at most.</summary>
    public static async Task ReadyAsync(HttpClient client)
    {
        var report = "";
        for (var attempt = 0; attempt < 300; attempt++)
        {
            using var response = await client.GetAsync("/readyz");
            if (response.IsSuccessStatusCode)
            {
                return;
            }
            report = await response.Content.ReadAsStringAsync();
            await Task.Delay(100);
        }
        Assert.Fail($"the exporter was not ready within 30 s: {report}");
    }

    /// <summary>/metrics/statistics once it has a model's prediction count (10 s at most), else as it last was.</summary>
    public static async Task<string> StatisticsAsync(HttpClient client)
    {
        var text = "";
        for (var attempt = 0; attempt < 100 && !text.Contains("modelmonitor_prediction_count{", StringComparison.Ordinal); attempt++)
        {
            await Task.Delay(100);
            text = await client.GetStringAsync("/metrics/statistics");
        }
        return text;
    }
}

/// <summary>A clock stopped at one instant (timers still run on the system's): the exporter's "latest complete window" is
/// then the one the test wrote, whenever the minute turns.</summary>
internal sealed class FixedTime(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
