using System.Collections.Concurrent;
using System.Text.Json;

namespace ModelMonitor.Core.Json;

/// <summary>
/// Feature names, predictor and model names and most categorical values repeat on every record. Reading
/// them through this cache returns one shared string instead of allocating a new one per record (the
/// largest cost of decoding, measured). A string without escapes is found by its raw UTF-8 bytes, so a
/// repeat costs a hash and a comparison of bytes, no transcoding to UTF-16. Thread-safe; bounded: past
/// <see cref="Capacity"/> entries new strings are still returned, just not kept, so hostile input cannot
/// grow it without limit.
/// </summary>
public static class RepeatedStrings
{
    public const int Capacity = 100_000;

    /// <summary>Strings longer than this are never cached (ids, free text).</summary>
    public const int MaxCachedLength = 128;

    private static readonly ConcurrentDictionary<string, string> Strings = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> Lookup =
        Strings.GetAlternateLookup<ReadOnlySpan<char>>();

    private static readonly ConcurrentDictionary<byte[], string> ByUtf8 = new(Utf8Comparer.Instance);
    private static readonly ConcurrentDictionary<byte[], string>.AlternateLookup<ReadOnlySpan<byte>> Utf8Lookup =
        ByUtf8.GetAlternateLookup<ReadOnlySpan<byte>>();

    /// <summary>The current string token's value, shared when it is short and already seen.</summary>
    public static string Read(ref Utf8JsonReader reader)
    {
        // A string's UTF-8 form has at least as many bytes as its UTF-16 form has characters.
        if (!reader.HasValueSequence && !reader.ValueIsEscaped && reader.ValueSpan.Length <= MaxCachedLength)
        {
            var raw = reader.ValueSpan;
            if (Utf8Lookup.TryGetValue(raw, out var known))
            {
                return known;
            }
            var text = ReadThroughChars(ref reader);
            if (ByUtf8.Count < Capacity)
            {
                ByUtf8.TryAdd(raw.ToArray(), text);
            }
            return text;
        }
        return ReadThroughChars(ref reader);
    }

    /// <summary>The string of these UTF-8 bytes, shared when short and already seen.</summary>
    public static string FromUtf8(ReadOnlySpan<byte> raw)
    {
        if (raw.Length > MaxCachedLength)
        {
            return System.Text.Encoding.UTF8.GetString(raw);
        }
        if (Utf8Lookup.TryGetValue(raw, out var known))
        {
            return known;
        }
        var text = System.Text.Encoding.UTF8.GetString(raw);
        if (ByUtf8.Count < Capacity)
        {
            ByUtf8.TryAdd(raw.ToArray(), text);
        }
        return text;
    }

    private static string ReadThroughChars(ref Utf8JsonReader reader)
    {
        var raw = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
        if (raw > MaxCachedLength * 3)
        {
            return reader.GetString()!;
        }
        // Unescaped, a string has at most as many UTF-16 characters as its raw UTF-8 bytes.
        Span<char> buffer = stackalloc char[MaxCachedLength * 3];
        var length = reader.CopyString(buffer);
        var chars = buffer[..length];
        if (length > MaxCachedLength)
        {
            return new string(chars);
        }
        if (Lookup.TryGetValue(chars, out var shared))
        {
            return shared;
        }
        var text = new string(chars);
        if (Strings.Count < Capacity)
        {
            // Another thread may have added the same text meanwhile: keep one instance.
            text = Strings.GetOrAdd(text, text);
        }
        return text;
    }

    /// <summary>Byte-wise equality of UTF-8 keys, usable with a span to look them up without allocating.</summary>
    private sealed class Utf8Comparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly Utf8Comparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => GetHashCode((ReadOnlySpan<byte>)obj);

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate)
        {
            var hash = new HashCode(); // seeded per process: inputs cannot be chosen to collide
            hash.AddBytes(alternate);
            return hash.ToHashCode();
        }

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
    }
}
