using System.Net;
using System.Net.Http.Headers;

namespace ModelMonitor.DemoTraffic.Sending;

/// <summary>The HttpClient for the ingestion API: pooled keep-alive connections, one per concurrent sender; every request
/// with the API key of the environment variable MODELMONITOR_API_KEY when it is set (an environment variable rather than an
/// option, so the key is not in the process list).</summary>
public static class IngestionHttpClient
{
    public const string ApiKeyVariable = "MODELMONITOR_API_KEY";

    public static HttpClient Create(int concurrency, TimeSpan requestTimeout, string? apiKey = null)
    {
        apiKey ??= Environment.GetEnvironmentVariable(ApiKeyVariable);
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = concurrency,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
        };
        var client = new HttpClient(handler, disposeHandler: true)
        {
            Timeout = requestTimeout,
            DefaultRequestVersion = HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
        if (!string.IsNullOrWhiteSpace(apiKey))
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey.Trim());
        }
        return client;
    }
}
