using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

namespace ModelMonitor.Reliability.Tests;

/// <summary>One answered (or failed) request: when it was sent, how long it took, what came back.</summary>
internal sealed record ProbeResult(TimeSpan SentAt, TimeSpan Latency, int Status, bool HasRetryAfter, string? Error, IReadOnlyList<string> PredictionIds);

/// <summary>
/// The test's own HTTP load: posts small valid batches at a fixed rate whatever the server does (open
/// loop: a slow answer does not slow the next request), and records status, latency and Retry-After of
/// each. Its acknowledged prediction_ids are a ledger of its own.
/// </summary>
internal sealed class ProbeClient : IAsyncDisposable
{
    private readonly HttpClient _http;
    private readonly Uri _endpoint;
    private readonly int _recordsPerRequest;
    private readonly string _prefix = "probe-" + Guid.NewGuid().ToString("N")[..8];
    private readonly ConcurrentQueue<ProbeResult> _results = new();
    private readonly Stopwatch _clock;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Task, bool> _inFlight = new();
    private Task? _loop;
    private long _sequence;

    private readonly (string Body, List<string> Ids)? _fixedBatch;

    /// <param name="reuseBody">Send the same batch every time (overload: keeps the client's own CPU cost low).</param>
    public ProbeClient(Uri baseUrl, Stopwatch clock, int recordsPerRequest = 5, bool reuseBody = false, TimeSpan? timeout = null)
    {
        _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 2000, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = timeout ?? TimeSpan.FromSeconds(30),
        };
        _endpoint = new Uri(baseUrl, "v1/predictions");
        _clock = clock;
        _recordsPerRequest = recordsPerRequest;
        _fixedBatch = reuseBody ? NextBatch() : null;
    }

    public IReadOnlyList<ProbeResult> Results => [.. _results];

    public int InFlight => _inFlight.Count;

    /// <summary>Starts sending <paramref name="requestsPerSecond"/> requests per second, at most <paramref name="maxInFlight"/> at once.</summary>
    public void Start(double requestsPerSecond, int maxInFlight = 1000)
    {
        var interval = TimeSpan.FromSeconds(1 / requestsPerSecond);
        _loop = Task.Run(async () =>
        {
            var next = _clock.Elapsed;
            while (!_stop.IsCancellationRequested)
            {
                if (_inFlight.Count < maxInFlight)
                {
                    var task = SendOneAsync();
                    _inFlight[task] = true;
                    _ = task.ContinueWith(t => _inFlight.TryRemove(t, out _), TaskScheduler.Default);
                }

                next += interval;
                var wait = next - _clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    try
                    {
                        await Task.Delay(wait, _stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
                else if (wait < -TimeSpan.FromSeconds(1))
                {
                    next = _clock.Elapsed; // fell behind (a busy machine): do not burst to catch up
                }
            }
        });
    }

    /// <summary>Stops sending and waits for the requests in flight.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            await _loop;
        }

        await Task.WhenAll(_inFlight.Keys);
    }

    /// <summary>prediction_ids the server acknowledged (2xx).</summary>
    public IEnumerable<string> Acknowledged() =>
        _results.Where(r => r.Status is >= 200 and < 300).SelectMany(r => r.PredictionIds);

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _http.Dispose();
        _stop.Dispose();
    }

    /// <summary>One valid batch body and its prediction_ids.</summary>
    public (string Body, List<string> Ids) NextBatch()
    {
        var ids = new List<string>();
        var body = new StringBuilder("[");
        var now = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
        for (var i = 0; i < _recordsPerRequest; i++)
        {
            var id = $"{_prefix}-{Interlocked.Increment(ref _sequence)}";
            ids.Add(id);
            body.Append(i == 0 ? "" : ",").Append(CultureInfo.InvariantCulture,
                $$"""{"sent_at":"{{now}}","prediction_id":"{{id}}","predictor_name":"probe","model_id":"probe_v1","features":{"x":{{i}}.5,"market":"paris","flag":true},"prediction_result":1.25}""");
        }

        return (body.Append(']').ToString(), ids);
    }

    private async Task SendOneAsync()
    {
        var (body, ids) = _fixedBatch ?? NextBatch();
        var sentAt = _clock.Elapsed;
        try
        {
            using var content = new StringContent(body, Encoding.UTF8, "application/json");
            using var response = await _http.PostAsync(_endpoint, content);
            await response.Content.ReadAsByteArrayAsync();
            _results.Enqueue(new ProbeResult(sentAt, _clock.Elapsed - sentAt, (int)response.StatusCode,
                response.Headers.RetryAfter is not null, null, ids));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            _results.Enqueue(new ProbeResult(sentAt, _clock.Elapsed - sentAt, 0, false, e.GetType().Name + ": " + e.Message, ids));
        }
    }

    /// <summary>The q-quantile (nearest rank) of <paramref name="values"/>.</summary>
    public static TimeSpan Quantile(IEnumerable<TimeSpan> values, double q)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted.Count == 0 ? TimeSpan.Zero : sorted[(int)Math.Min(sorted.Count - 1, Math.Ceiling(q * sorted.Count) - 1)];
    }

    public static string Describe(IEnumerable<ProbeResult> results) =>
        string.Join(", ", results.GroupBy(r => r.Status).OrderBy(g => g.Key).Select(g => $"{(g.Key == 0 ? "error" : g.Key.ToString(CultureInfo.InvariantCulture))}: {g.Count()}"));
}

/// <summary>Samples a process's resident memory every <c>interval</c>.</summary>
internal sealed class MemorySampler : IAsyncDisposable
{
    private readonly ConcurrentQueue<(TimeSpan At, long Bytes)> _samples = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public MemorySampler(Func<long?> read, Stopwatch clock, TimeSpan interval)
    {
        _loop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                if (read() is { } bytes)
                {
                    _samples.Enqueue((clock.Elapsed, bytes));
                }

                try
                {
                    await Task.Delay(interval, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        });
    }

    /// <summary>Peak RSS in bytes between two instants of the test's clock.</summary>
    public long Peak(TimeSpan from, TimeSpan to) =>
        _samples.Where(s => s.At >= from && s.At <= to).Select(s => s.Bytes).DefaultIfEmpty(0).Max();

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }

    public static string Megabytes(long bytes) => (bytes / 1024.0 / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " MB";
}
