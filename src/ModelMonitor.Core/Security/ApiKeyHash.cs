using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace ModelMonitor.Core.Security;

/// <summary>
/// How a key's secret is stored: <c>sha256$&lt;salt&gt;$&lt;digest&gt;</c> (base64url), digest = SHA-256(salt ‖ UTF-8 secret)
/// with 16 random bytes of salt per key. A fast hash is the right one here: the secret is 256 random bits, not a password
/// someone chose, so no dictionary or brute force can reach it and a slow KDF (PBKDF2, Argon2) would only add CPU to every
/// cache miss; the salt keeps equal secrets (there are none, in practice) from having equal rows. Comparison is constant
/// time (<see cref="CryptographicOperations.FixedTimeEquals"/>).
/// </summary>
public static class ApiKeyHash
{
    private const string Scheme = "sha256";
    private const int SaltBytes = 16;

    public static string Create(string secret)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        return $"{Scheme}${Base64Url.EncodeToString(salt)}${Base64Url.EncodeToString(Digest(salt, secret))}";
    }

    /// <summary>Whether a secret matches a stored hash; false (never an exception) for a hash in another format.</summary>
    public static bool Verify(string secret, string stored)
    {
        var parts = stored.Split('$');
        if (parts.Length != 3 || parts[0] != Scheme)
        {
            return false;
        }
        byte[] salt, expected;
        try
        {
            salt = Base64Url.DecodeFromChars(parts[1]);
            expected = Base64Url.DecodeFromChars(parts[2]);
        }
        catch (FormatException)
        {
            return false;
        }
        return CryptographicOperations.FixedTimeEquals(Digest(salt, secret), expected);
    }

    /// <summary>Whether a presented secret equals a configured one (a metrics token) in time independent of where they
    /// differ and of their lengths: both are hashed first, and the digests (always 32 bytes) compared in constant time.</summary>
    public static bool FixedTimeEquals(string presented, string expected) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), SHA256.HashData(Encoding.UTF8.GetBytes(expected)));

    private static byte[] Digest(byte[] salt, string secret)
    {
        var bytes = new byte[salt.Length + Encoding.UTF8.GetByteCount(secret)];
        salt.CopyTo(bytes, 0);
        Encoding.UTF8.GetBytes(secret, bytes.AsSpan(salt.Length));
        return SHA256.HashData(bytes);
    }
}
