using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace ModelMonitor.Exporter.Tests;

/// <summary>The exporter host in process on a Postgres database, refreshing every second with no completion delay.</summary>
internal static class ExporterHost
{
    public static WebApplicationFactory<Program> On(string connectionString, params (string Key, string Value)[] settings) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:Postgres", connectionString);
            web.UseSetting("Exporter:RefreshInterval", "00:00:01");
            web.UseSetting("Exporter:CompletionDelay", "00:00:00");
            foreach (var (key, value) in settings)
            {
                web.UseSetting(key, value);
            }
        });

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
