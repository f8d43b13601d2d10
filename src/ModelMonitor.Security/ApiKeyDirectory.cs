using System.Collections.Concurrent;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelMonitor.Core.Security;
using ModelMonitor.Storage.Security;
using Npgsql;

namespace ModelMonitor.Security;

/// <summary>The key store could not be read and the key was never seen before: the request cannot be judged (503).</summary>
public sealed class KeyStoreUnavailableException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// Finds a key by id: the keys file (Auth:KeysFile, re-read when it changes) first, then Postgres (api_keys), through a
/// cache (Microsoft.Extensions.Caching.Memory, bounded to 10,000 entries) that holds an answer, found or not, for
/// Auth:CacheTtl, so a request costs no round trip and a revocation takes effect within the TTL. When Postgres cannot be
/// reached, a key found before is served as last seen (ingestion needs only Kafka: a Postgres outage must not stop it)
/// and a key never seen gets 503.
/// </summary>
public sealed class ApiKeyDirectory : IDisposable
{
    private const int CacheEntries = 10_000;
    private static readonly object NotFound = new();

    private readonly AuthOptions _options;
    private readonly ApiKeyStore? _store;
    private readonly TimeProvider _time;
    private readonly ILogger<ApiKeyDirectory> _logger;
    private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = CacheEntries });
    // Every key found in Postgres (bounded by the table), for when Postgres cannot be reached.
    private readonly ConcurrentDictionary<string, ApiKey> _lastSeen = new(StringComparer.Ordinal);
    private readonly Lock _fileLock = new();
    private Dictionary<string, ApiKey> _fileKeys = new(StringComparer.Ordinal);
    private DateTime _fileWrittenAt;
    private DateTimeOffset _fileCheckedAt = DateTimeOffset.MinValue;

    public ApiKeyDirectory(IOptions<AuthOptions> options, TimeProvider time, ILogger<ApiKeyDirectory> logger, ApiKeyStore? store = null)
    {
        _options = options.Value;
        _store = store;
        _time = time;
        _logger = logger;
        if (_options.Mode == AuthMode.ApiKeys && _options.KeysFile is { } path)
        {
            LoadFile(path, throwOnError: true); // a bad file stops the service at start, naming the entry
        }
    }

    /// <summary>Where keys come from, for the start-up log.</summary>
    public string Sources => string.Join(" and ", new[]
    {
        _options.KeysFile is { } f ? $"the keys file {f} ({_fileKeys.Count} keys)" : null,
        _store is not null ? "Postgres (api_keys)" : null,
    }.OfType<string>());

    /// <exception cref="KeyStoreUnavailableException">Postgres failed and the key was never seen.</exception>
    public async ValueTask<ApiKey?> FindAsync(string keyId, CancellationToken cancellationToken)
    {
        if (_options.KeysFile is { } path)
        {
            RefreshFile(path);
            if (_fileKeys.TryGetValue(keyId, out var fromFile))
            {
                return fromFile;
            }
        }
        if (_store is null)
        {
            return null;
        }
        if (_cache.TryGetValue(keyId, out var cached))
        {
            return cached as ApiKey;
        }
        ApiKey? key;
        try
        {
            key = await _store.FindAsync(keyId, cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
        {
            if (_lastSeen.TryGetValue(keyId, out var seen))
            {
                _logger.LogWarning("Reading API key {KeyId} from Postgres failed ({Error}): using it as last seen", keyId, e.Message);
                return seen;
            }
            throw new KeyStoreUnavailableException("the key store (Postgres) is unreachable", e);
        }
        if (key is not null)
        {
            _lastSeen[keyId] = key;
        }
        _cache.Set(keyId, key ?? NotFound, new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = _options.CacheTtl > TimeSpan.Zero ? _options.CacheTtl : TimeSpan.FromTicks(1) });
        return key;
    }

    private void RefreshFile(string path)
    {
        var now = _time.GetUtcNow();
        if (now - _fileCheckedAt < TimeSpan.FromSeconds(1))
        {
            return;
        }
        lock (_fileLock)
        {
            if (now - _fileCheckedAt < TimeSpan.FromSeconds(1))
            {
                return;
            }
            _fileCheckedAt = now;
            if (File.GetLastWriteTimeUtc(path) != _fileWrittenAt)
            {
                LoadFile(path, throwOnError: false);
            }
        }
    }

    private void LoadFile(string path, bool throwOnError)
    {
        try
        {
            var writtenAt = File.GetLastWriteTimeUtc(path);
            var keys = KeysFile.Read(File.ReadAllText(path), path);
            _fileKeys = keys.ToDictionary(k => k.Id, StringComparer.Ordinal);
            _fileWrittenAt = writtenAt;
            _logger.LogInformation("Read {Count} API keys from {Path}", keys.Count, path);
        }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException)
        {
            if (throwOnError)
            {
                throw new InvalidOperationException($"Auth:KeysFile cannot be used: {e.Message}", e);
            }
            _logger.LogError("The keys file {Path} changed but cannot be read ({Error}): keeping the keys read before", path, e.Message);
            _fileWrittenAt = File.Exists(path) ? File.GetLastWriteTimeUtc(path) : default;
        }
    }

    public void Dispose() => _cache.Dispose();
}
