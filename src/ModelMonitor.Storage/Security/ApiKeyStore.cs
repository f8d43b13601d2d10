using System.Text.Json;
using Dapper;
using ModelMonitor.Core.Security;
using ModelMonitor.Storage.Audit;
using Npgsql;
using static ModelMonitor.Storage.PostgresValues;
// Positional (Dapper maps value tuples by column order): the order of ApiKeyStore's Columns.
using Row = (string Id, string Name, string Hash, string[] Scopes, string[] Predictors, System.DateTime CreatedAt, System.DateTime? ExpiresAt,
    System.DateTime? RevokedAt, double? RateLimit);

namespace ModelMonitor.Storage.Security;

/// <summary>
/// API keys in Postgres (table api_keys, schema version 8): made and revoked by the <c>keys</c> command, read by the API
/// (through its cache, so a request costs no round trip). Each change is one transaction with its audit row.
/// </summary>
public sealed class ApiKeyStore(NpgsqlDataSource dataSource)
{

    private const string Columns = "key_id, name, secret_hash, scopes, predictors, created_at, expires_at, revoked_at, rate_limit";

    public async Task CreateAsync(ApiKey key, string actor, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO api_keys (key_id, name, secret_hash, scopes, predictors, rate_limit, created_at, created_by, expires_at)
            VALUES (@Id, @Name, @SecretHash, @scopes, @predictors, @RateLimit, @CreatedAt, @actor, @ExpiresAt)
            """,
            new { key.Id, key.Name, key.SecretHash, scopes = key.Scopes.ToArray(), predictors = key.Predictors.Patterns.ToArray(), key.RateLimit, key.CreatedAt, actor, key.ExpiresAt },
            transaction, cancellationToken: cancellationToken));
        await AdminAudit.WriteAsync(connection, transaction, new AuditEntry(actor, "create_key", null, null, key.Id, JsonSerializer.Serialize(new
        {
            name = key.Name,
            scopes = key.Scopes,
            predictors = key.Predictors.Patterns,
            rate_limit = key.RateLimit,
            expires_at = key.ExpiresAt,
        })), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <returns>False when there is no such key or it was revoked already.</returns>
    public async Task<bool> RevokeAsync(string keyId, string actor, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var revoked = await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE api_keys SET revoked_at = @at, revoked_by = @actor WHERE key_id = @keyId AND revoked_at IS NULL",
            new { keyId, actor, at }, transaction, cancellationToken: cancellationToken)) > 0;
        if (revoked)
        {
            await AdminAudit.WriteAsync(connection, transaction, new AuditEntry(actor, "revoke_key", null, null, keyId, null), cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return revoked;
    }

    public async Task<ApiKey?> FindAsync(string keyId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<Row?>(new CommandDefinition(
            $"SELECT {Columns} FROM api_keys WHERE key_id = @keyId", new { keyId }, cancellationToken: cancellationToken));
        return row is { } found ? ToKey(found) : null;
    }

    /// <summary>Every key, newest first (revoked ones included: the list says so).</summary>
    public async Task<IReadOnlyList<ApiKey>> ListAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<Row>(new CommandDefinition(
            $"SELECT {Columns} FROM api_keys ORDER BY created_at DESC, key_id", cancellationToken: cancellationToken));
        return [.. rows.Select(ToKey)];
    }

    private static ApiKey ToKey(Row r) => new(r.Id, r.Name, r.Hash, r.Scopes, new PredictorPatterns(r.Predictors), Utc(r.CreatedAt),
        r.ExpiresAt is { } e ? Utc(e) : null, r.RevokedAt is { } v ? Utc(v) : null, r.RateLimit);
}
