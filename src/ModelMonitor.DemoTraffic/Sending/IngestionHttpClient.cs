using System.Net;

namespace ModelMonitor.DemoTraffic.Sending;

/// <summary>The HttpClient for the ingestion API: pooled keep-alive connections, one per concurrent sender.</summary>
public static class IngestionHttpClient
{
    public static HttpClient Create(int concurrency, TimeSpan requestTimeout)
    {
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = concurrency,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
        };
        return new HttpClient(handler, disposeHandler: true)
        {
            Timeout = requestTimeout,
            DefaultRequestVersion = HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
    }
}
