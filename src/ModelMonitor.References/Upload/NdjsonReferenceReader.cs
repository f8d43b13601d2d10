using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Json;
using ModelMonitor.Core.References;

namespace ModelMonitor.References.Upload;

/// <summary>
/// Reads an NDJSON reference: one JSON object per line, shaped like a prediction log (<c>features</c>, an object of
/// name → number, string, boolean or null; optional <c>prediction_result</c>, a number or "NaN" / "Infinity" /
/// "-Infinity"; optional <c>default_values_used</c>, an array of names). Other members (sent_at, prediction_id,
/// predictor_name, model_id) are allowed and ignored, so a day of logged predictions uploads as it is. Blank lines are
/// skipped. Read line by line from a pipe: memory is one line, whatever the file's size.
/// </summary>
public static class NdjsonReferenceReader
{
    private const int MaxLineBytes = 16 * 1024 * 1024;

    public static async Task ReadAsync(Stream body, ReferenceBuilder builder, UploadLimits limits, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(limits);
        var pipe = PipeReader.Create(body, new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: true));
        var line = 0L;
        try
        {
            while (true)
            {
                var result = await pipe.ReadAsync(cancellationToken);
                var buffer = result.Buffer;
                while (TryReadLine(ref buffer, out var record))
                {
                    line++;
                    Read(record, builder, limits, line);
                }

                if (result.IsCompleted)
                {
                    if (!buffer.IsEmpty)
                    {
                        line++;
                        Read(buffer, builder, limits, line); // the last line, without its newline
                    }

                    pipe.AdvanceTo(buffer.End);
                    break;
                }

                if (buffer.Length > MaxLineBytes)
                {
                    throw new ReferenceUploadException($"a line longer than {MaxLineBytes / 1024 / 1024} MiB", line + 1);
                }

                pipe.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        finally
        {
            await pipe.CompleteAsync();
        }

        if (builder.Rows == 0)
        {
            throw new ReferenceUploadException("the upload has no records");
        }
    }

    private static bool TryReadLine(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line)
    {
        if (buffer.PositionOf((byte)'\n') is not { } end)
        {
            line = default;
            return false;
        }

        line = buffer.Slice(0, end);
        buffer = buffer.Slice(buffer.GetPosition(1, end));
        return true;
    }

    private static void Read(ReadOnlySequence<byte> record, ReferenceBuilder builder, UploadLimits limits, long line)
    {
        var bytes = record.IsSingleSegment ? record.FirstSpan : record.ToArray();
        if (bytes.Length > 0 && bytes[^1] == '\r')
        {
            bytes = bytes[..^1];
        }

        if (bytes.Trim(" \t"u8).IsEmpty)
        {
            return;
        }

        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { MaxDepth = 8 });
        var row = builder.Row;
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new ReferenceUploadException("a line must be one JSON object", line);
            }

            var sawFeatures = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var member = reader.GetString()!;
                reader.Read();
                switch (member)
                {
                    case "features":
                        sawFeatures = true;
                        ReadFeatures(ref reader, row, limits, line);
                        break;
                    case "prediction_result":
                        row.Prediction.Add(ReadPrediction(ref reader, line));
                        break;
                    case "default_values_used":
                        ReadDefaults(ref reader, row, line);
                        break;
                    default:
                        reader.Skip();
                        break;
                }
            }

            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                throw new ReferenceUploadException("text after the JSON object", line);
            }

            if (!sawFeatures)
            {
                throw new ReferenceUploadException("no \"features\" object", line);
            }
        }
        catch (JsonException e)
        {
            throw new ReferenceUploadException($"not valid JSON: {e.Message}", line);
        }
        catch (InvalidOperationException e)
        {
            throw new ReferenceUploadException($"not valid JSON: {e.Message}", line);
        }

        builder.EndRow();
        limits.CheckRows(builder.Rows, line);
    }

    private static void ReadFeatures(ref Utf8JsonReader reader, ReferenceProfile row, UploadLimits limits, long line)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new ReferenceUploadException("\"features\" must be an object of name → value", line);
        }

        var count = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (StorableText.Problem(ref reader) is { } nameProblem)
            {
                throw new ReferenceUploadException($"a feature name {nameProblem}", line);
            }

            var name = reader.GetString()!;
            if (name.Length is 0 or > 200)
            {
                throw new ReferenceUploadException("a feature name is 1 to 200 characters", line, name.Length == 0 ? "" : name[..Math.Min(40, name.Length)]);
            }

            if (++count > limits.MaxColumns)
            {
                throw new ReferenceUploadException($"more than {limits.MaxColumns} features (References:MaxColumns)", line, status: 413);
            }

            reader.Read();
            row.Feature(name).Add(reader.TokenType switch
            {
                JsonTokenType.Number => FeatureValue.FromNumber(reader.GetDouble()),
                JsonTokenType.True => FeatureValue.FromBoolean(true),
                JsonTokenType.False => FeatureValue.FromBoolean(false),
                JsonTokenType.Null => FeatureValue.Null,
                JsonTokenType.String => FeatureValue.FromString(ReadCategory(ref reader, limits, line, name)),
                _ => throw new ReferenceUploadException("a value is neither a number, a string, a boolean nor null", line, name),
            });
        }
    }

    private static string ReadCategory(ref Utf8JsonReader reader, UploadLimits limits, long line, string feature)
    {
        if (StorableText.Problem(ref reader) is { } problem)
        {
            throw new ReferenceUploadException(problem, line, feature);
        }

        var text = reader.GetString()!;
        return text.Length > limits.MaxStringLength
            ? throw new ReferenceUploadException($"a string of {text.Length} characters is longer than the limit of {limits.MaxStringLength}", line, feature)
            : text;
    }

    private static double ReadPrediction(ref Utf8JsonReader reader, long line)
    {
        if (reader.TokenType == JsonTokenType.Number)
        {
            return reader.GetDouble();
        }

        if (reader.TokenType == JsonTokenType.String)
        {
            switch (reader.GetString())
            {
                case "NaN":
                    return double.NaN;
                case "Infinity":
                    return double.PositiveInfinity;
                case "-Infinity":
                    return double.NegativeInfinity;
            }
        }

        throw new ReferenceUploadException("prediction_result must be a number (or \"NaN\", \"Infinity\", \"-Infinity\")", line, "prediction_result");
    }

    private static void ReadDefaults(ref Utf8JsonReader reader, ReferenceProfile row, long line)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new ReferenceUploadException("default_values_used must be an array of feature names", line, "default_values_used");
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.String)
        {
            row.Feature(reader.GetString()!).AddDefault();
        }

        if (reader.TokenType != JsonTokenType.EndArray)
        {
            throw new ReferenceUploadException("default_values_used must be an array of feature names", line, "default_values_used");
        }
    }
}
