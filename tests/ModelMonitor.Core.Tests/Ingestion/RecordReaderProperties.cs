using System.Globalization;
using System.Text;
using FsCheck.Xunit;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Ingestion;

namespace ModelMonitor.Core.Tests.Ingestion;

/// <summary>Properties over generated input: the reader answers with its own verdict, never an exception.</summary>
public sealed class RecordReaderProperties
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);
    private static readonly PredictionBatchParser Parser = new(new IngestionLimits());

    private const string Valid =
        """{"sent_at":"2026-11-22T11:59:00Z","prediction_id":"a","predictor_name":"p","model_id":"m","features":{"x":1,"c":"v"},"prediction_result":1}""";

    [Property(MaxTest = 2_000)]
    public void Arbitrary_bytes_give_a_verdict_in_either_format_and_never_throw(byte[] body)
    {
        foreach (var format in new[] { BodyFormat.Json, BodyFormat.NdJson })
        {
            var batch = Parser.Parse(body, format, Now);
            Assert.True(batch.MalformedMessage is not null || batch.RecordCount > 0);
        }
        Assert.Equal(PredictionLogCodec.TryDecode(body, out var log, out var error), log is not null && error is null);
    }

    [Property(MaxTest = 2_000)]
    public void A_valid_record_cut_or_spliced_anywhere_gives_a_verdict(ushort cut, byte[] splice)
    {
        var bytes = Encoding.UTF8.GetBytes(Valid);
        var at = cut % (bytes.Length + 1);
        byte[] body = [.. bytes[..at], .. splice, .. bytes[at..]];

        var batch = Parser.Parse(body, BodyFormat.Json, Now);

        Assert.True(batch.MalformedMessage is not null || batch.RecordCount == 1);
    }

    /// <summary>Any sequence of UTF-16 code units, written as \uXXXX escapes into a feature name and a value: the record is
    /// rejected as unstorable exactly when the units hold U+0000 or an unpaired surrogate, and accepted text is that text.</summary>
    [Property(MaxTest = 3_000)]
    public void Escaped_text_is_rejected_exactly_when_Postgres_could_not_store_it(ushort[] generated, bool inName)
    {
        // Steer the generated units so high and low surrogates, pairs, NUL and ASCII all occur often.
        var units = generated.Select(x => (x % 4) switch
        {
            0 => x,
            1 => (ushort)(0xD800 | (x & 0x3FF)),
            2 => (ushort)(0xDC00 | (x & 0x3FF)),
            _ => (ushort)(x & 0x7F),
        }).ToArray();
        var escaped = string.Concat(units.Select(u => "\\u" + u.ToString("x4", CultureInfo.InvariantCulture)));
        var text = new string([.. units.Select(u => (char)u)]);
        var features = inName ? $"{{\"f{escaped}\":1}}" : $"{{\"f\":\"{escaped}\"}}";
        var body = Valid.Replace("{\"x\":1,\"c\":\"v\"}", features, StringComparison.Ordinal);

        var batch = Parser.Parse(Encoding.UTF8.GetBytes(body), BodyFormat.Json, Now);

        var storable = !text.Contains('\0', StringComparison.Ordinal) && IsWellFormed(text);
        if (storable && text.Length < 200)
        {
            var log = Assert.Single(batch.Accepted);
            Assert.Equal(inName ? "f" + text : "f", log.Features[0].Key);
            if (!inName)
            {
                Assert.Equal(FeatureValue.FromString(text), log.Features[0].Value);
            }
        }
        else if (!storable)
        {
            var error = Assert.Single(batch.Errors);
            Assert.Equal(RejectReason.UnstorableText, error.Reason);
        }
    }

    private static bool IsWellFormed(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return false;
            }
        }
        return true;
    }
}
