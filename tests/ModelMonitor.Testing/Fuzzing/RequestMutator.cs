using System.Text;

namespace ModelMonitor.Testing.Fuzzing;

/// <summary>One fuzzed request: what was sent and which mutations made it.</summary>
public sealed record FuzzCase(FuzzTarget Target, string? ContentType, IReadOnlyDictionary<string, string> Headers, byte[] Body, string Mutations);

/// <summary>
/// Deterministic mutations of valid requests (same seed, same requests): byte flips, inserts of bytes that break
/// parsers (NUL, invalid and overlong UTF-8, BOM, quotes, brackets), deletions, truncations, duplications, JSON
/// values swapped for other token types, odd Unicode escapes and extreme numbers, keys replaced, and mutated
/// headers (content type, charset, content encoding). A fifth of the requests stay valid, so accounting is tested too.
/// </summary>
public sealed class RequestMutator(int seed)
{
    private readonly Random _random = new(seed);

    private static readonly string[] Values =
    [
        "[]", "[1]", "[[]]", "{}", "{\"a\":[1]}", "null", "true", "false", "\"x\"", "\"\"", "0", "-0", "1e309", "-1e308", "1e308", "5e-324",
        "1.7976931348623157e308", "123456789012345678901234567890", "0.0e-999", "NaN", "Infinity", "-Infinity", "nan",
        "\"\\u0000\"", "\"a\\u0000b\"", "\"\\ud800\"", "\"a\\udc00\"", "\"\\udbff\\udfff\"", "\"\\uFEFF\"", "\"\\u202e\"", "\"\\x\"",
        "\"" + new string('z', 1_100) + "\"", "\"2026-02-30T25:61:00Z\"", "\"9999-12-31T23:59:59Z\"", "\"2026-12-01T10:00:00\"",
        new string('[', 70) + new string(']', 70), "{\"\":1}", "\"\\\"\"", "1.5.5", "--1", "0x10", "+1",
    ];

    private static readonly string[] Keys =
        ["", "sent_at", "features", "prediction_result", "v", "\\u0000", "\\ud800", "prediction_id\\u0000", "PREDICTION_ID", "features.x"];

    private static readonly byte[][] Bytes =
    [
        [0x00], [0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xEF, 0xBB, 0xBF], [0xF4, 0x90, 0x80, 0x80], [(byte)'"'], [(byte)'\\'],
        [(byte)'{'], [(byte)'['], [(byte)']'], [(byte)','], [(byte)':'], [(byte)'\n'], [(byte)'\r'], [0x1B], [(byte)'/', (byte)'/'],
    ];

    private static readonly string?[] ContentTypes =
    [
        null, "", "text/plain", "application/xml", "application/json; charset=latin1", "application/json; charset=\"UTF-8\"",
        "application/json; charset=utf-16", "application/json;;", "*/*", "application/json; boundary=x", "application/ndjson",
        "application/jsonl", "APPLICATION/JSON", "application/json, text/plain", "application/x-ndjson; charset=utf8", "multipart/form-data",
    ];

    public FuzzCase Next(FuzzTarget target, DateTimeOffset now, string predictor)
    {
        var body = target.ValidBody(_random, now, predictor);
        var contentType = target.ContentTypes.Count == 0 ? null
            : body.Length > 0 && body[0] == (byte)'{' && Array.IndexOf(body, (byte)'\n') > 0 ? target.ContentTypes[^1] : target.ContentTypes[0];
        var headers = new Dictionary<string, string>();
        var applied = new List<string>();
        if (_random.Next(5) > 0) // a fifth stays valid
        {
            for (var m = 0; m < 1 + _random.Next(3); m++)
            {
                body = Mutate(body, applied);
            }
        }
        if (_random.Next(6) == 0)
        {
            contentType = ContentTypes[_random.Next(ContentTypes.Length)];
            applied.Add($"content-type '{contentType ?? "none"}'");
        }
        if (_random.Next(20) == 0)
        {
            headers["Content-Encoding"] = _random.Next(2) == 0 ? "gzip" : "br, identity";
            applied.Add("content-encoding " + headers["Content-Encoding"]);
        }
        return new FuzzCase(target, contentType, headers, body, applied.Count == 0 ? "none" : string.Join("; ", applied));
    }

    private byte[] Mutate(byte[] body, List<string> applied)
    {
        if (body.Length == 0)
        {
            applied.Add("insert into empty");
            return Bytes[_random.Next(Bytes.Length)];
        }
        var at = _random.Next(body.Length);
        switch (_random.Next(8))
        {
            case 0:
                applied.Add($"flip bit at {at}");
                var flipped = (byte[])body.Clone();
                flipped[at] ^= (byte)(1 << _random.Next(8));
                return flipped;
            case 1:
                var insert = Bytes[_random.Next(Bytes.Length)];
                applied.Add($"insert {Convert.ToHexString(insert)} at {at}");
                return [.. body[..at], .. insert, .. body[at..]];
            case 2:
                var length = Math.Min(1 + _random.Next(16), body.Length - at);
                applied.Add($"delete {length} at {at}");
                return [.. body[..at], .. body[(at + length)..]];
            case 3:
                applied.Add($"truncate at {at}");
                return body[..at];
            case 4:
                var span = Math.Min(1 + _random.Next(64), body.Length - at);
                applied.Add($"duplicate {span} at {at}");
                return [.. body[..(at + span)], .. body[at..]];
            case 5 or 6:
                return SwapValue(body, applied);
            default:
                return SwapKey(body, applied);
        }
    }

    /// <summary>Replaces the JSON value after a random ':' with another token (its end: the next ',' or '}' at the same depth, roughly).</summary>
    private byte[] SwapValue(byte[] body, List<string> applied)
    {
        var text = Encoding.UTF8.GetString(body);
        var colons = Enumerable.Range(0, text.Length).Where(i => text[i] == ':').ToList();
        if (colons.Count == 0)
        {
            return body;
        }
        var start = colons[_random.Next(colons.Count)] + 1;
        var end = start;
        var depth = 0;
        var inString = false;
        for (; end < text.Length; end++)
        {
            var c = text[end];
            if (inString)
            {
                if (c == '\\')
                {
                    end++;
                }
                else if (c == '"')
                {
                    inString = false;
                }
                continue;
            }
            if (c == '"')
            {
                inString = true;
            }
            else if (c is '{' or '[')
            {
                depth++;
            }
            else if (c is '}' or ']')
            {
                if (depth == 0)
                {
                    break;
                }
                depth--;
            }
            else if (c == ',' && depth == 0)
            {
                break;
            }
        }
        var value = Values[_random.Next(Values.Length)];
        applied.Add($"value at {start} -> {(value.Length > 24 ? value[..24] + "…" : value)}");
        return Encoding.UTF8.GetBytes(text[..start] + value + text[Math.Min(end, text.Length)..]);
    }

    private byte[] SwapKey(byte[] body, List<string> applied)
    {
        var text = Encoding.UTF8.GetString(body);
        var keys = System.Text.RegularExpressions.Regex.Matches(text, "\"([a-z_]+)\":");
        if (keys.Count == 0)
        {
            return body;
        }
        var match = keys[_random.Next(keys.Count)];
        var key = Keys[_random.Next(Keys.Length)];
        applied.Add($"key {match.Groups[1].Value} -> '{key}'");
        return Encoding.UTF8.GetBytes(text[..match.Groups[1].Index] + key + text[(match.Groups[1].Index + match.Groups[1].Length)..]);
    }
}
