using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace ModelMonitor.Core.Security;

/// <summary>
/// An API key as clients send it: <c>mmk_&lt;id&gt;_&lt;secret&gt;</c>. The id (12 characters of [a-z0-9]) names the key
/// in lists, logs, metrics and the audit log; the secret (32 random bytes, base64url: 43 characters) is shown once when
/// the key is made and stored only as a salted hash (<see cref="ApiKeyHash"/>). The prefix makes a leaked key easy to
/// recognise (secret scanners, log greps); the id lets the server find the stored hash without trying every key.
/// </summary>
public readonly record struct ApiKeyToken(string KeyId, string Secret)
{
    public const string Prefix = "mmk_";
    public const int IdLength = 12;
    public const int SecretBytes = 32;

    /// <summary>Base64url without padding of <see cref="SecretBytes"/> bytes.</summary>
    public const int SecretLength = (SecretBytes * 4 + 2) / 3;

    public const int Length = 4 + IdLength + 1 + SecretLength;

    private const string IdAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    private static readonly SearchValues<char> IdCharacters = SearchValues.Create(IdAlphabet);

    /// <summary>A new key: a random id and secret from the system's cryptographic generator.</summary>
    public static ApiKeyToken New() =>
        new(RandomNumberGenerator.GetString(IdAlphabet, IdLength), Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(SecretBytes)));

    /// <summary>Whether a text is a well-formed key id (what may go into a label, a log line or a header).</summary>
    public static bool IsValidId([NotNullWhen(true)] string? id) =>
        id is { Length: IdLength } && id.AsSpan().IndexOfAnyExcept(IdCharacters) < 0;

    /// <summary>Reads a key as sent; false for anything that is not exactly the format (nothing else is looked up).</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out ApiKeyToken token)
    {
        token = default;
        if (text.Length != Length || !text.StartsWith(Prefix, StringComparison.Ordinal) || text[4 + IdLength] != '_')
        {
            return false;
        }
        var id = text.Slice(4, IdLength);
        var secret = text[(4 + IdLength + 1)..];
        if (id.IndexOfAnyExcept(IdCharacters) >= 0 || !Base64Url.IsValid(secret, out var decoded) || decoded != SecretBytes)
        {
            return false;
        }
        token = new ApiKeyToken(id.ToString(), secret.ToString());
        return true;
    }

    /// <summary>The key as a client sends it. Never log this.</summary>
    public override string ToString() => Prefix + KeyId + "_" + Secret;
}
