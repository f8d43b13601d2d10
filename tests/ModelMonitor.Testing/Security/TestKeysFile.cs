using ModelMonitor.Core.Security;
using ModelMonitor.Security;

namespace ModelMonitor.Testing.Security;

/// <summary>Keys made the way <c>keys create --file</c> makes them, in a keys file a service reads (Auth:KeysFile); deleted
/// when disposed.</summary>
public sealed class TestKeysFile : IDisposable
{
    private readonly List<ApiKey> _keys = [];

    public TestKeysFile() => File.WriteAllText(Path, KeysFile.Write(_keys));

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"mm-keys-{Guid.NewGuid():N}.yml");

    /// <returns>The key, as a client sends it.</returns>
    public string Add(string name, string scopes, string predictors = "*", DateTimeOffset? expires = null, DateTimeOffset? revoked = null, double? rate = null)
    {
        var token = ApiKeyToken.New();
        _keys.Add(new ApiKey(token.KeyId, name, ApiKeyHash.Create(token.Secret), ApiScopes.Parse(scopes, out _), PredictorPatterns.Parse(predictors, out _),
            DateTimeOffset.UtcNow, expires, revoked, rate));
        File.WriteAllText(Path, KeysFile.Write(_keys));
        return token.ToString();
    }

    public void Dispose() => File.Delete(Path);
}
