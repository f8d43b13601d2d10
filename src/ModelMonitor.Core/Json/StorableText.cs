using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace ModelMonitor.Core.Json;

/// <summary>
/// What a stored string may hold: any Unicode text except U+0000 and unpaired UTF-16 surrogates. Postgres
/// text and jsonb cannot hold U+0000 (22P05 "unsupported Unicode escape sequence"), and a lone surrogate is not
/// a character at all (System.Text.Json refuses to read it as a string). In a body that is valid UTF-8 both
/// can only arrive as JSON escapes (\u0000, \ud800), so only escaped values need the check.
/// </summary>
public static class StorableText
{
    /// <summary>Why the current string token (a value or a property name) cannot be stored, or null when it can.</summary>
    public static string? Problem(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped)
        {
            return null;
        }
        return reader.HasValueSequence ? Problem(reader.ValueSequence.ToArray()) : Problem(reader.ValueSpan);
    }

    /// <summary>Why the raw (still escaped) JSON string content cannot be stored, or null when it can.</summary>
    public static string? Problem(ReadOnlySpan<byte> raw)
    {
        var pendingHigh = -1; // a high surrogate waiting for its low half
        for (var i = 0; i < raw.Length; i++)
        {
            if (raw[i] != (byte)'\\')
            {
                if (pendingHigh >= 0)
                {
                    return Unpaired(pendingHigh);
                }
                continue;
            }
            i++;
            if (i >= raw.Length || raw[i] != (byte)'u' || i + 4 >= raw.Length)
            {
                if (pendingHigh >= 0)
                {
                    return Unpaired(pendingHigh);
                }
                continue; // \n, \" ... (the reader already checked the escape is well formed)
            }
            if (!int.TryParse(raw.Slice(i + 1, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var unit))
            {
                continue;
            }
            i += 4;
            if (unit == 0)
            {
                return "contains U+0000 (NUL), which cannot be stored";
            }
            if (unit is >= 0xD800 and <= 0xDBFF)
            {
                if (pendingHigh >= 0)
                {
                    return Unpaired(pendingHigh);
                }
                pendingHigh = unit;
            }
            else if (unit is >= 0xDC00 and <= 0xDFFF)
            {
                if (pendingHigh < 0)
                {
                    return Unpaired(unit);
                }
                pendingHigh = -1;
            }
            else if (pendingHigh >= 0)
            {
                return Unpaired(pendingHigh);
            }
        }
        return pendingHigh >= 0 ? Unpaired(pendingHigh) : null;
    }

    private static string Unpaired(int unit) =>
        string.Create(CultureInfo.InvariantCulture, $"contains an unpaired UTF-16 surrogate (\\u{unit:X4}), which is not a character");
}
