using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;

namespace ModelMonitor.Testing.Fuzzing;

/// <summary>What a fuzz run saw: statuses, every answer that was a failure (5xx, no answer), and the records 2xx answers stored.</summary>
public sealed class FuzzReport
{
    private readonly ConcurrentDictionary<int, int> _statuses = new();
    private readonly ConcurrentQueue<string> _failures = new();
    private readonly ConcurrentDictionary<string, long> _stored = new(StringComparer.Ordinal);

    /// <summary>Status code → requests; 0 = no HTTP answer (connection dropped, timeout).</summary>
    public SortedDictionary<int, int> Statuses => new(_statuses);

    public IReadOnlyCollection<string> Failures => _failures;

    /// <summary>Records the 2xx answers of the predictions endpoint said they stored (what the statistics must count).</summary>
    public long StoredPredictions => StoredBy(FuzzTargets.Predictions);

    /// <summary>Records the 2xx answers of one write endpoint said they stored.</summary>
    public long StoredBy(FuzzTarget target) => _stored.GetValueOrDefault(target.Name);

    public int Requests => _statuses.Values.Sum();

    public string Histogram => string.Join(", ", Statuses.Select(s => $"{(s.Key == 0 ? "no answer" : s.Key.ToString(CultureInfo.InvariantCulture))}: {s.Value}"));

    internal void Count(int status, FuzzCase fuzz, string body, string? badCredential = null)
    {
        _statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
        if (badCredential is not null && status is >= 200 and < 300)
        {
            _failures.Enqueue($"{fuzz.Target.Name} → {status} with a bad credential ({badCredential}): accepted without a valid key");
        }
        else if (status is 0 or >= 500)
        {
            var bodyStart = body.Length > 300 ? body[..300] + "…" : body;
            _failures.Enqueue($"{fuzz.Target.Name} → {(status == 0 ? "no answer" : status.ToString(CultureInfo.InvariantCulture))} ({fuzz.Mutations}): {bodyStart}");
        }
        else if (status is >= 200 and < 300 && fuzz.Target.StoredRecords is { } stored)
        {
            _stored.AddOrUpdate(fuzz.Target.Name, _ => stored(body), (_, n) => n + stored(body));
        }
    }
}

/// <summary>
/// Sends mutated requests (<see cref="RequestMutator"/>) to a running service over real HTTP: most through
/// HttpClient, one in 25 over a raw socket with a broken framing header (a Content-Length that is not a number, two
/// that disagree, one shorter than the body, a bad chunk size), which HttpClient cannot send. The cases are made
/// from the seed before sending, so a run is repeatable whatever the concurrency.
/// </summary>
public static class HttpFuzzer
{
    /// <param name="apiKey">The API's key (Auth:Mode=ApiKeys): every request carries it, but one in 20 carries a broken
    /// credential instead (none, truncated, another secret, garbage, an empty bearer, a key in the wrong header), which
    /// must never be accepted.</param>
    public static async Task<FuzzReport> RunAsync(Uri baseUrl, IReadOnlyList<FuzzTarget> targets, int requests, int seed, string predictor,
        int concurrency = 4, string? apiKey = null, CancellationToken cancellationToken = default)
    {
        var mutator = new RequestMutator(seed);
        var now = DateTimeOffset.UtcNow;
        var cases = Enumerable.Range(0, requests)
            // Eight in ten requests go to the first target (predictions); the others take turns among the rest.
            .Select(i => (Raw: i % 25 == 24, Case: mutator.Next(targets[i % 10 < 8 || targets.Count == 1 ? 0 : 1 + (2 * (i / 10) + i % 10 - 8) % (targets.Count - 1)], now, predictor),
                Credential: apiKey is null ? ((string Header, string Value, string? Broken)?)null
                    : i % 20 == 13 ? BrokenCredential(apiKey, i / 20) : ("Authorization", $"Bearer {apiKey}", null)))
            .ToList();
        var report = new FuzzReport();
        using var client = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(30) };
        await Parallel.ForEachAsync(cases, new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken },
            async (item, token) =>
            {
                var credential = item.Credential is { } c ? (c.Item1, c.Item2) : default((string, string)?);
                var (status, body) = item.Raw
                    ? await SendRawAsync(baseUrl, item.Case, token, credential)
                    : await SendAsync(client, item.Case, token, credential);
                report.Count(status, item.Case, body, item.Credential?.Broken);
            });
        return report;
    }

    /// <summary>A credential that must be refused, the n-th of a cycle of kinds.</summary>
    private static (string Header, string Value, string? Broken) BrokenCredential(string apiKey, int n) => (n % 7) switch
    {
        0 => ("X-Not-A-Key", "none", "no key"),
        1 => ("Authorization", $"Bearer {apiKey[..^1]}", "truncated"),
        2 => ("Authorization", $"Bearer {apiKey[..^4]}AAAA", "another secret"),
        3 => ("Authorization", "Bearer ", "an empty bearer"),
        4 => ("Authorization", $"Basic {Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:" + apiKey))}", "basic credentials"),
        5 => ("X-Api-Key", "mmk_\u0000' OR 1=1 --", "garbage"),
        _ => ("Authorization", $"Bearer {new string('x', 8_000)}", "an 8 KB token"),
    };

    private static async Task<(int Status, string Body)> SendAsync(HttpClient client, FuzzCase fuzz, CancellationToken cancellationToken,
        (string Header, string Value)? credential = null)
    {
        using var request = new HttpRequestMessage(fuzz.Target.Method, fuzz.Target.Path);
        if (credential is { } c)
        {
            request.Headers.TryAddWithoutValidation(c.Header, c.Value);
        }
        if (fuzz.Target.Method != HttpMethod.Get)
        {
            var content = new ByteArrayContent(fuzz.Body);
            content.Headers.ContentType = null;
            if (fuzz.ContentType is not null)
            {
                content.Headers.TryAddWithoutValidation("Content-Type", fuzz.ContentType);
            }
            foreach (var (name, value) in fuzz.Headers)
            {
                content.Headers.TryAddWithoutValidation(name, value);
            }
            request.Content = content;
        }
        try
        {
            using var response = await client.SendAsync(request, cancellationToken);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            return (0, e.Message);
        }
    }

    /// <summary>The body of a response read by <see cref="ReadResponseAsync"/>, its chunks joined when it was chunked.</summary>
    private static string Body(string response)
    {
        var end = response.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var body = response[(end + 4)..];
        if (!response[..end].Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase))
        {
            return body;
        }
        var joined = new StringBuilder();
        while (body.IndexOf("\r\n", StringComparison.Ordinal) is var line and > 0
            && int.TryParse(body.AsSpan(0, line), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var size) && size > 0)
        {
            // Sizes count bytes; the bodies here are ASCII JSON (non-ASCII is escaped by the serializer).
            joined.Append(body.AsSpan(line + 2, Math.Min(size, body.Length - line - 2)));
            body = body[Math.Min(body.Length, line + 2 + size + 2)..];
        }
        return joined.ToString();
    }

    /// <summary>The first response on the connection: status line, headers and a Content-Length or chunked body (ASCII/UTF-8).</summary>
    private static async Task<string> ReadResponseAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var received = new List<byte>();
        var buffer = new byte[8192];
        int? complete = null;
        while (complete is null || received.Count < complete)
        {
            var n = await stream.ReadAsync(buffer, cancellationToken);
            if (n == 0)
            {
                break;
            }
            received.AddRange(buffer.AsSpan(0, n));
            var text = Encoding.UTF8.GetString([.. received]);
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0)
            {
                continue;
            }
            var headers = text[..end].Split("\r\n");
            var length = headers.FirstOrDefault(h => h.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
            if (length is not null)
            {
                complete = Encoding.UTF8.GetByteCount(text[..(end + 4)]) + int.Parse(length["Content-Length:".Length..].Trim(), CultureInfo.InvariantCulture);
            }
            else if (!headers.Any(h => h.StartsWith("Transfer-Encoding:", StringComparison.OrdinalIgnoreCase)) || text.EndsWith("0\r\n\r\n", StringComparison.Ordinal))
            {
                break;
            }
        }
        return Encoding.UTF8.GetString([.. received]);
    }

    /// <summary>A POST with a broken framing header over a socket; the status of the first answer (0 if none).</summary>
    private static async Task<(int Status, string Body)> SendRawAsync(Uri baseUrl, FuzzCase fuzz, CancellationToken cancellationToken,
        (string Header, string Value)? credential = null)
    {
        var body = fuzz.Body;
        var kind = (body.Length + fuzz.Mutations.Length) % 4;
        var framing = kind switch
        {
            0 => "Content-Length: 12abc\r\n",
            1 => $"Content-Length: {body.Length}\r\nContent-Length: {body.Length + 1}\r\n",
            2 => $"Content-Length: {Math.Max(0, body.Length / 2)}\r\n",
            _ => "Transfer-Encoding: chunked\r\n",
        };
        var payload = kind == 3 ? [.. "zz\r\n"u8, .. body, .. "\r\n0\r\n\r\n"u8] : body;
        var authorization = credential is { } c ? $"{c.Header}: {c.Value}\r\n" : "";
        var head = $"POST {fuzz.Target.Path} HTTP/1.1\r\nHost: {baseUrl.Authority}\r\nContent-Type: {fuzz.ContentType ?? "application/json"}\r\n{authorization}{framing}\r\n";
        using var tcp = new TcpClient();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            await tcp.ConnectAsync(baseUrl.Host, baseUrl.Port, timeout.Token);
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head), timeout.Token);
            await stream.WriteAsync(payload, timeout.Token);
            var response = await ReadResponseAsync(stream, timeout.Token);
            // "HTTP/1.1 400 Bad Request"
            return response.Length >= 12 && int.TryParse(response.AsSpan(9, 3), NumberStyles.None, CultureInfo.InvariantCulture, out var status)
                ? (status, Body(response))
                : (0, $"raw '{framing.Trim()}': no HTTP answer ('{response}')");
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return (0, $"raw '{framing.Trim()}': {e.Message}");
        }
    }
}
