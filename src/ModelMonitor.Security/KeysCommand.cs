using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using ModelMonitor.Core.Predictors;
using ModelMonitor.Core.Security;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Security;
using Npgsql;

namespace ModelMonitor.Security;

/// <summary>
/// <c>keys create | list | revoke</c>: the operator's way to manage API keys, a subcommand of the ingestion API and of
/// the all-in-one host (<c>dotnet ModelMonitor.Ingestion.dll keys create --name eta-service --scopes write:predictions
/// --predictors 'eta_*'</c>). Keys go to Postgres (ConnectionStrings__Postgres or --connection-string; the schema is
/// migrated first unless Postgres__ApplyMigrations=false) or, with --file, to a keys file (Auth:KeysFile). The secret is
/// printed once, alone on standard output (KEY=$(... keys create ...)); only its salted hash is stored.
/// </summary>
public static class KeysCommand
{
    public const string Verb = "keys";

    public const string Usage = """
        usage: keys create --name NAME --scopes SCOPES [--predictors PATTERNS] [--expires 90d|2027-06-01T00:00:00Z] [--rate-limit N]
               keys list
               keys revoke KEY_ID
          SCOPES: comma-separated, of write:predictions, write:outcomes, admin
          PATTERNS: comma-separated predictor_name globs (* any run, ? one character); default * (every predictor)
          --rate-limit: requests per second for this key (default Auth:RateLimit:RequestsPerSecond)
        Where keys are: Postgres (ConnectionStrings__Postgres, or --connection-string "Host=...;Username=...;Password=...;Database=..."),
        or --file PATH, a keys file the API reads with Auth:KeysFile=PATH.
        """;

    private static readonly string[] KnownOptions = ["name", "scopes", "predictors", "expires", "rate-limit", "file", "connection-string"];

    public static bool Matches(string[] args) => args.Length > 0 && args[0] == Verb;

    /// <returns>The exit code: 0 done, 2 bad usage, 1 the store failed.</returns>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, TimeProvider? time = null)
    {
        time ??= TimeProvider.System;
        var verb = args.Length > 1 ? args[1] : "";
        var positional = new List<string>();
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 2; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                positional.Add(args[i]);
            }
            else if (i + 1 < args.Length && KnownOptions.Contains(args[i][2..]))
            {
                options[args[i][2..]] = args[++i];
            }
            else
            {
                return await UsageErrorAsync(error, $"unknown or incomplete option '{args[i]}'");
            }
        }
        var actor = $"cli:{Environment.UserName}";
        try
        {
            return verb switch
            {
                "help" or "--help" or "-h" => await HelpAsync(output),
                "create" when positional.Count == 0 => await CreateAsync(options, actor, time, output, error),
                "list" when positional.Count == 0 => await ListAsync(options, time, output, error),
                "revoke" when positional.Count == 1 => await RevokeAsync(positional[0], options, actor, time, output, error),
                _ => await UsageErrorAsync(error, verb is "create" or "list" or "revoke" ? $"unexpected argument for keys {verb}" : $"unknown keys command '{verb}'"),
            };
        }
        catch (Exception e) when (e is NpgsqlException or IOException or UnauthorizedAccessException or FormatException or InvalidOperationException)
        {
            await error.WriteLineAsync($"keys {verb} failed: {e.Message}");
            return 1;
        }
    }

    private static async Task<int> CreateAsync(Dictionary<string, string> options, string actor, TimeProvider time, TextWriter output, TextWriter error)
    {
        if (!options.TryGetValue("name", out var name) || string.IsNullOrWhiteSpace(name) || name.Length > 200 || name.Any(char.IsControl))
        {
            return await UsageErrorAsync(error, "--name is required (up to 200 characters, no control characters): who or what uses the key");
        }
        var scopes = ApiScopes.Parse(options.GetValueOrDefault("scopes") ?? "", out var scopeError);
        if (scopeError is not null)
        {
            return await UsageErrorAsync(error, $"--scopes: {scopeError}");
        }
        var predictors = PredictorPatterns.Parse(options.GetValueOrDefault("predictors") ?? "*", out var patternError);
        if (patternError is not null)
        {
            return await UsageErrorAsync(error, $"--predictors: {patternError}");
        }
        var now = time.GetUtcNow();
        DateTimeOffset? expires = null;
        if (options.TryGetValue("expires", out var expiresText))
        {
            if (Durations.TryParse(expiresText, out var lifetime) && lifetime > TimeSpan.Zero)
            {
                expires = now + lifetime;
            }
            else if (DateTimeOffset.TryParse(expiresText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) && at > now)
            {
                expires = at.ToUniversalTime();
            }
            else
            {
                return await UsageErrorAsync(error, $"--expires must be a duration (90d, 12h) or a future time (2027-06-01T00:00:00Z); got '{expiresText}'");
            }
        }
        double? rate = null;
        if (options.TryGetValue("rate-limit", out var rateText))
        {
            if (!double.TryParse(rateText, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) || !(r > 0) || !double.IsFinite(r))
            {
                return await UsageErrorAsync(error, $"--rate-limit must be a positive number of requests per second; got '{rateText}'");
            }
            rate = r;
        }
        var token = ApiKeyToken.New();
        var key = new ApiKey(token.KeyId, name, ApiKeyHash.Create(token.Secret), scopes, predictors, now, expires, null, rate);
        string where;
        if (options.TryGetValue("file", out var file))
        {
            var keys = File.Exists(file) ? KeysFile.Read(await File.ReadAllTextAsync(file), file).ToList() : [];
            keys.Add(key);
            await WriteFileAsync(file, keys);
            where = $"the keys file {file}";
        }
        else
        {
            await using var dataSource = await OpenPostgresAsync(options);
            await new ApiKeyStore(dataSource).CreateAsync(key, actor, CancellationToken.None);
            where = "Postgres";
        }
        await output.WriteLineAsync(token.ToString());
        var expiry = expires is { } e ? string.Create(CultureInfo.InvariantCulture, $"; expires {e:yyyy-MM-ddTHH:mm:ssZ}") : "";
        var limit = rate is { } rl ? string.Create(CultureInfo.InvariantCulture, $"; {rl} requests/s") : "";
        await error.WriteLineAsync($"Created API key {key.Id} '{name}' in {where}: scopes {string.Join(",", scopes)}; predictors {predictors}{expiry}{limit}. " +
            "The key (above) is shown only now: store it in your secret manager. Send it as 'Authorization: Bearer <key>'.");
        return 0;
    }

    private static async Task<int> ListAsync(Dictionary<string, string> options, TimeProvider time, TextWriter output, TextWriter error)
    {
        IReadOnlyList<ApiKey> keys;
        if (options.TryGetValue("file", out var file))
        {
            keys = File.Exists(file) ? KeysFile.Read(await File.ReadAllTextAsync(file), file) : [];
        }
        else
        {
            await using var dataSource = await OpenPostgresAsync(options);
            keys = await new ApiKeyStore(dataSource).ListAsync(CancellationToken.None);
        }
        var now = time.GetUtcNow();
        await output.WriteLineAsync("KEY_ID        STATE    NAME                      SCOPES                                   PREDICTORS      CREATED               EXPIRES");
        foreach (var key in keys)
        {
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{key.Id,-13} {key.Unusable(now) ?? "active",-8} {Cut(key.Name, 25),-25} {string.Join(",", key.Scopes),-40} {Cut(key.Predictors.ToString(), 15),-15} {key.CreatedAt:yyyy-MM-ddTHH:mm:ssZ}  {(key.ExpiresAt is { } e ? e.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) : "never")}"));
        }
        await error.WriteLineAsync($"{keys.Count} keys (secrets are never stored, so never listed)");
        return 0;
    }

    private static async Task<int> RevokeAsync(string keyId, Dictionary<string, string> options, string actor, TimeProvider time, TextWriter output, TextWriter error)
    {
        if (!ApiKeyToken.IsValidId(keyId))
        {
            return await UsageErrorAsync(error, $"'{Cut(keyId, 40)}' is not a key id (12 characters of a-z and 0-9, as keys list shows)");
        }
        var now = time.GetUtcNow();
        bool revoked;
        if (options.TryGetValue("file", out var file))
        {
            var keys = File.Exists(file) ? KeysFile.Read(await File.ReadAllTextAsync(file), file).ToList() : [];
            var index = keys.FindIndex(k => k.Id == keyId && k.RevokedAt is null);
            revoked = index >= 0;
            if (revoked)
            {
                keys[index] = keys[index] with { RevokedAt = now };
                await WriteFileAsync(file, keys);
            }
        }
        else
        {
            await using var dataSource = await OpenPostgresAsync(options);
            revoked = await new ApiKeyStore(dataSource).RevokeAsync(keyId, actor, now, CancellationToken.None);
        }
        if (!revoked)
        {
            await error.WriteLineAsync($"No active key {keyId}: nothing revoked.");
            return 1;
        }
        await output.WriteLineAsync($"Revoked API key {keyId}: the services refuse it within their key cache's lifetime (Auth:CacheTtl, 30 s by default).");
        return 0;
    }

    /// <summary>Writes a keys file whole, by replacing it (a reader never sees half a file); readable by its owner only.</summary>
    private static async Task WriteFileAsync(string path, IEnumerable<ApiKey> keys)
    {
        var temporary = path + ".tmp";
        await File.WriteAllTextAsync(temporary, KeysFile.Write(keys));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        File.Move(temporary, path, overwrite: true);
    }

    private static async Task<NpgsqlDataSource> OpenPostgresAsync(Dictionary<string, string> options)
    {
        var connectionString = options.GetValueOrDefault("connection-string")
            ?? Environment.GetEnvironmentVariable($"ConnectionStrings__{PostgresExtensions.ConnectionStringName}");
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException($"Postgres is not configured: set ConnectionStrings__{PostgresExtensions.ConnectionStringName}, pass --connection-string, or use --file");
        }
        var dataSource = NpgsqlDataSource.Create(connectionString);
        var apply = !string.Equals(Environment.GetEnvironmentVariable("Postgres__ApplyMigrations"), "false", StringComparison.OrdinalIgnoreCase);
        await new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance, apply).MigrateAsync(CancellationToken.None);
        return dataSource;
    }

    private static async Task<int> HelpAsync(TextWriter output)
    {
        await output.WriteLineAsync(Usage);
        return 0;
    }

    private static async Task<int> UsageErrorAsync(TextWriter error, string message)
    {
        await error.WriteLineAsync($"{message}\n{Usage}");
        return 2;
    }

    private static string Cut(string text, int length) => text.Length <= length ? text : text[..(length - 1)] + "…";
}
