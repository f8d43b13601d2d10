using System.Globalization;
using System.Text;
using System.Text.Json;
using ModelMonitor.DemoTraffic.Scenarios;

namespace ModelMonitor.DemoTraffic.Running;

/// <summary>
/// The demo's predictor registry, written before the traffic starts (PUT /v1/predictors/...): eta_prediction with its primary
/// eta_v12 and shadow eta_v13_shadow (compared on the same requests: the quality drop makes them diverge, alert
/// ModelMonitorShadowDivergence), prep_time whose model was trained 45 days ago against a 30-day limit (alert
/// ModelMonitorModelTooOld). fraud_score stays unregistered: its primary is inferred.
/// </summary>
public static class DemoRegistry
{
    public const int PrepTimeModelAgeDays = 45;
    public const int MaxModelAgeDays = 30;

    /// <summary>The calls, in order: path and JSON body (times relative to <paramref name="now"/>).</summary>
    public static IReadOnlyList<(string Path, string Body)> Calls(DateTimeOffset now)
    {
        static string Time(DateTimeOffset t) => t.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        return
        [
            ($"v1/predictors/{DemoScenarios.EtaPredictor}", JsonSerializer.Serialize(new
            {
                primary_model_id = DemoScenarios.EtaPrimaryModel,
                shadow_model_ids = new[] { DemoScenarios.EtaShadowModel },
                team = "logistics",
                labels = new { tier = "1" },
                max_model_age = $"{MaxModelAgeDays}d",
            })),
            ($"v1/predictors/{DemoScenarios.EtaPredictor}/models/{DemoScenarios.EtaPrimaryModel}", JsonSerializer.Serialize(new
            {
                trained_at = Time(now.AddDays(-12)),
                training_data_end = Time(now.AddDays(-14)),
                version_info = new { framework = "lightgbm 4.5", git = "3f2a1c9" },
            })),
            ($"v1/predictors/{DemoScenarios.EtaPredictor}/models/{DemoScenarios.EtaShadowModel}", JsonSerializer.Serialize(new
            {
                trained_at = Time(now.AddDays(-2)),
                training_data_end = Time(now.AddDays(-3)),
                version_info = new { framework = "lightgbm 4.5", git = "9b8e7d6" },
            })),
            ($"v1/predictors/{DemoScenarios.PrepTimePredictor}", JsonSerializer.Serialize(new
            {
                primary_model_id = DemoScenarios.PrepTimeModel,
                team = "kitchen",
                max_model_age = $"{MaxModelAgeDays}d",
            })),
            ($"v1/predictors/{DemoScenarios.PrepTimePredictor}/models/{DemoScenarios.PrepTimeModel}", JsonSerializer.Serialize(new
            {
                trained_at = Time(now.AddDays(-PrepTimeModelAgeDays)),
                version_info = new { framework = "xgboost 2.1" },
            })),
        ];
    }

    /// <summary>Registers; says what happened (a failure is reported, not fatal: the demo runs unregistered).</summary>
    public static async Task RegisterAsync(HttpClient http, Uri api, TextWriter output, CancellationToken cancellationToken)
    {
        try
        {
            foreach (var (path, body) in Calls(DateTimeOffset.UtcNow))
            {
                using var content = new StringContent(body, Encoding.UTF8, "application/json");
                using var response = await http.PutAsync(new Uri(api, path), content, cancellationToken);
                if (!response.IsSuccessStatusCode)
                {
                    await output.WriteLineAsync($"predictor registry: PUT {path} answered {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}; the demo runs with inferred roles");
                    return;
                }
            }
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"predictor registry: {DemoScenarios.EtaPredictor} (primary {DemoScenarios.EtaPrimaryModel}, shadow {DemoScenarios.EtaShadowModel}) and {DemoScenarios.PrepTimePredictor} ({DemoScenarios.PrepTimeModel}, trained {PrepTimeModelAgeDays} days ago, limit {MaxModelAgeDays}: alert ModelMonitorModelTooOld) registered at {new Uri(api, "v1/predictors")}"));
        }
        catch (HttpRequestException e)
        {
            await output.WriteLineAsync($"predictor registry: not registered ({e.Message}); the demo runs with inferred roles");
        }
    }
}
