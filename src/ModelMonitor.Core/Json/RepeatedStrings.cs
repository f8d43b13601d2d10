using System.Collections.Concurrent;
using System.Text.Json;

namespace ModelMonitor.Core.Json;

/// <summary>
/// Feature names, predictor and model names and most categorical values repeat on every record. Reading
/// them through this cache returns one shared string instead of allocating a new one per record (the
/// largest cost of decoding, measured). Thread-safe; bounded: past <see cref="Capacity"/> entries new
/// strings are still returned, just not kept, so hostile input cannot grow it without limit.
/// </summary>
public static class RepeatedStrings
{
    public const int Capacity = 100_000;

    /// <summary>Strings longer than this are never cached (ids, free text).</summary>
    public const int MaxCachedLength = 128;

    private static readonly ConcurrentDictionary<string, string> Strings = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> Lookup =
        Strings.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>The current string token's value, shared when it is short and already seen.</summary>
    public static string Read(ref Utf8JsonReader reader)
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
            Strings.TryAdd(text, text);
        }
        return text;
    }
}
