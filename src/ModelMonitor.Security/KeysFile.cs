using System.Globalization;
using ModelMonitor.Core.Security;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace ModelMonitor.Security;

/// <summary>
/// The keys file (Auth:KeysFile), for deployments whose API may not write to Postgres (or has none): what
/// <c>keys create --file</c> writes, one entry per key, the secret only as its salted hash:
/// <code>
/// keys:
/// - id: 3k9x0d2mq7ab
///   name: eta-service
///   secret_hash: sha256$...$...
///   scopes: [write:predictions]
///   predictors: [eta_*]
///   created_at: 2026-12-07T13:00:00Z
///   expires_at: 2027-03-07T13:00:00Z   # optional
///   revoked_at: null                    # set by keys revoke --file
///   rate_limit: 50                      # optional, requests per second
/// </code>
/// </summary>
public static class KeysFile
{
    private static readonly IDeserializer Reader = new DeserializerBuilder().WithNamingConvention(UnderscoredNamingConvention.Instance).Build();
    private static readonly ISerializer Writer = new SerializerBuilder().WithNamingConvention(UnderscoredNamingConvention.Instance)
        .ConfigureDefaultValuesHandling(DefaultValuesHandling.OmitNull).Build();

    /// <exception cref="FormatException">Not a valid keys file: the entry and field are named.</exception>
    public static IReadOnlyList<ApiKey> Read(string text, string path)
    {
        Document? document;
        try
        {
            document = Reader.Deserialize<Document?>(text);
        }
        catch (YamlException e)
        {
            throw new FormatException($"{path}: not a valid keys file at line {e.Start.Line}: {(e.InnerException ?? e).Message}", e);
        }
        var keys = new List<ApiKey>();
        foreach (var (entry, i) in (document?.Keys ?? []).Select((e, i) => (e, i)))
        {
            var where = $"{path}: keys[{i}]";
            if (!ApiKeyToken.IsValidId(entry.Id))
            {
                throw new FormatException($"{where}.id must be {ApiKeyToken.IdLength} characters of a-z and 0-9 (as keys create makes it).");
            }
            if (entry.SecretHash is null || !entry.SecretHash.StartsWith("sha256$", StringComparison.Ordinal))
            {
                throw new FormatException($"{where}.secret_hash must be the sha256$<salt>$<digest> keys create prints.");
            }
            var scopes = ApiScopes.Parse(string.Join(",", entry.Scopes ?? []), out var scopeError);
            if (scopeError is not null)
            {
                throw new FormatException($"{where}.scopes: {scopeError}.");
            }
            var predictors = PredictorPatterns.Parse(string.Join(",", entry.Predictors ?? []), out var patternError);
            if (patternError is not null)
            {
                throw new FormatException($"{where}.predictors: {patternError}.");
            }
            if (entry.RateLimit is { } rate && !(rate > 0 && double.IsFinite(rate)))
            {
                throw new FormatException($"{where}.rate_limit must be a positive number of requests per second.");
            }
            keys.Add(new ApiKey(entry.Id, entry.Name ?? "", entry.SecretHash, scopes, predictors, Time(entry.CreatedAt, $"{where}.created_at") ?? DateTimeOffset.UnixEpoch,
                Time(entry.ExpiresAt, $"{where}.expires_at"), Time(entry.RevokedAt, $"{where}.revoked_at"), entry.RateLimit));
        }
        var duplicate = keys.GroupBy(k => k.Id).FirstOrDefault(g => g.Count() > 1);
        return duplicate is not null ? throw new FormatException($"{path}: key id {duplicate.Key} appears twice.") : keys;
    }

    private static DateTimeOffset? Time(string? text, string where) =>
        text is null ? null
        : DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time) ? time.ToUniversalTime()
        : throw new FormatException($"{where} must be an RFC 3339 time, e.g. 2027-03-07T13:00:00Z (got '{text}').");

    private static string? Format(DateTimeOffset? time) => time?.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.FFFFFFFZ", CultureInfo.InvariantCulture);

    public static string Write(IEnumerable<ApiKey> keys) =>
        "# ModelMonitor API keys (Auth:KeysFile): written by `keys create --file`; secrets only as salted hashes.\n" +
        Writer.Serialize(new Document
        {
            Keys = [.. keys.Select(k => new Entry
            {
                Id = k.Id,
                Name = k.Name,
                SecretHash = k.SecretHash,
                Scopes = [.. k.Scopes],
                Predictors = [.. k.Predictors.Patterns],
                CreatedAt = Format(k.CreatedAt),
                ExpiresAt = Format(k.ExpiresAt),
                RevokedAt = Format(k.RevokedAt),
                RateLimit = k.RateLimit,
            })],
        });

    /// <summary>The YAML shape (the serializer's).</summary>
    public sealed class Document
    {
        public List<Entry>? Keys { get; set; }
    }

    public sealed class Entry
    {
        public string? Id { get; set; }
        public string? Name { get; set; }
        public string? SecretHash { get; set; }
        public List<string>? Scopes { get; set; }
        public List<string>? Predictors { get; set; }
        // Times as RFC 3339 text (YamlDotNet does not read a DateTimeOffset scalar).
        public string? CreatedAt { get; set; }
        public string? ExpiresAt { get; set; }
        public string? RevokedAt { get; set; }
        public double? RateLimit { get; set; }
    }
}
