using System.Text;
using ModelMonitor.Core.References;
using ModelMonitor.Core.Statistics;
using nietras.SeparatedValues;

namespace ModelMonitor.References.Upload;

/// <summary>
/// Reads a CSV reference (RFC 4180, comma-separated, UTF-8, header row = feature names, optional column
/// <c>prediction_result</c>) row by row from a stream into a <see cref="ReferenceBuilder"/>: memory stays flat in the file's
/// size. Cells follow <see cref="CellValue"/>. The splitting into rows and cells is Sep's (nietras/Sep); quotes are
/// checked and removed here (Sep leaves a quote inside an unquoted cell as it is), so a malformed cell, an unterminated
/// quote or a row with another number of cells is refused with its line and column.
/// </summary>
public static class CsvReferenceReader
{
    public const string PredictionColumn = "prediction_result";

    public static async Task ReadAsync(Stream body, ReferenceBuilder builder, UploadLimits limits, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(limits);
        // Invalid UTF-8 throws (DecoderFallbackException) instead of becoming U+FFFD categories nobody sent.
        using var text = new StreamReader(body, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true),
            detectEncodingFromByteOrderMarks: true, bufferSize: 64 * 1024, leaveOpen: true);
        SepReader reader;
        try
        {
            reader = await Sep.New(',').Reader(o => o with { HasHeader = false, DisableColCountCheck = true })
                .FromAsync(text, cancellationToken);
        }
        catch (DecoderFallbackException)
        {
            throw new ReferenceUploadException("the header is not valid UTF-8 (send the file as UTF-8)", 1);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException)
        {
            throw new ReferenceUploadException($"the header cannot be read: {e.Message}", 1);
        }

        using (reader)
        {
            var line = 1L;
            var unquoted = new char[256];
            try
            {
                // The header is read as a row (HasHeader = false): its names are unquoted and checked here, duplicates included.
                if (!await reader.MoveNextAsync(cancellationToken))
                {
                    throw new ReferenceUploadException("the upload is empty: the first line must name the columns");
                }

                var columns = Columns(reader.Current, limits);
                var strings = columns.Select(_ => new CategoryStrings()).ToArray();
                var accumulators = new FeatureAccumulator?[columns.Length];
                ReferenceProfile? accumulatorsOf = null;
                await foreach (var row in reader.WithCancellation(cancellationToken))
                {
                    line = row.LineNumberFrom;
                    if (row.ColCount != columns.Length)
                    {
                        throw new ReferenceUploadException($"{row.ColCount} cells, but the header has {columns.Length} columns", line);
                    }

                    var profile = builder.Row;
                    if (!ReferenceEquals(profile, accumulatorsOf))
                    {
                        // A new chunk: look its columns' accumulators up once, not once per cell.
                        accumulatorsOf = profile;
                        for (var c = 0; c < columns.Length; c++)
                        {
                            accumulators[c] = columns[c].IsPrediction ? null : profile.Feature(columns[c].Name);
                        }
                    }

                    for (var c = 0; c < columns.Length; c++)
                    {
                        var cell = Unquote(row[c].Span, ref unquoted, line, columns[c].Name);

                        if (CellValue.Classify(cell, limits.MaxStringLength, out var kind, out var number) is { } problem)
                        {
                            throw new ReferenceUploadException(problem, line, columns[c].Name);
                        }

                        if (columns[c].IsPrediction)
                        {
                            if (kind is CellValue.Kind.Category or CellValue.Kind.Boolean)
                            {
                                throw new ReferenceUploadException($"prediction_result must be a number, got \"{Shorten(cell)}\"", line, columns[c].Name);
                            }

                            if (kind == CellValue.Kind.Number)
                            {
                                profile.Prediction.Add(number);
                            }

                            continue;
                        }

                        accumulators[c]!.Add(CellValue.ToValue(kind, number, kind == CellValue.Kind.Category ? strings[c].Get(cell) : null));
                    }

                    builder.EndRow();
                    limits.CheckRows(builder.Rows, line);
                }
            }
            catch (DecoderFallbackException)
            {
                throw new ReferenceUploadException("not valid UTF-8 (send the file as UTF-8)", line);
            }
            catch (InvalidDataException e)
            {
                throw new ReferenceUploadException(e.Message, line);
            }
        }

        if (builder.Rows == 0)
        {
            throw new ReferenceUploadException("the upload has a header but no rows");
        }
    }

    private static (string Name, bool IsPrediction)[] Columns(SepReader.Row header, UploadLimits limits)
    {
        var buffer = new char[64];
        var names = new List<string>(header.ColCount);
        for (var i = 0; i < header.ColCount; i++)
        {
            names.Add(Unquote(header[i].Span, ref buffer, 1, $"{i + 1}").ToString());
        }
        if (names.Count > limits.MaxColumns)
        {
            throw new ReferenceUploadException($"{names.Count} columns, more than the limit of {limits.MaxColumns} (References:MaxColumns)", 1, status: 413);
        }

        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var columns = new (string, bool)[names.Count];
        for (var i = 0; i < names.Count; i++)
        {
            var name = names[i];
            if (name.Length == 0)
            {
                throw new ReferenceUploadException($"column {i + 1} has no name", 1);
            }

            if (name.Contains('\0') || name.Length > 200)
            {
                throw new ReferenceUploadException($"column {i + 1}: a feature name is 1 to 200 characters without U+0000", 1);
            }

            if (!seen.TryAdd(name, i))
            {
                throw new ReferenceUploadException($"column {i + 1} has the same name as column {seen[name] + 1}", 1, name);
            }

            columns[i] = (name, name == PredictionColumn);
        }

        return columns;
    }

    /// <summary>
    /// The text of a raw cell (RFC 4180): a cell without quotes as it is; a quoted cell ("…") without its quotes and with
    /// each doubled quote made one, into <paramref name="buffer"/> (grown as needed). A quote anywhere else, or a quoted
    /// cell that does not end with its quote (unterminated: the rest of the file was read as this cell), is refused.
    /// </summary>
    internal static ReadOnlySpan<char> Unquote(ReadOnlySpan<char> raw, ref char[] buffer, long line, string column)
    {
        if (!raw.Contains('"'))
        {
            return raw;
        }

        if (raw[0] != '"')
        {
            throw new ReferenceUploadException("a quote inside an unquoted cell (quote the whole cell and double the quote inside it)", line, column);
        }

        if (raw.Length < 2 || raw[^1] != '"')
        {
            throw new ReferenceUploadException("a quoted cell does not end with a quote (unterminated, or text after the closing quote)", line, column);
        }

        var inner = raw[1..^1];
        if (buffer.Length < inner.Length)
        {
            buffer = new char[Math.Max(inner.Length, buffer.Length * 2)];
        }

        var length = 0;
        for (var i = 0; i < inner.Length; i++)
        {
            if (inner[i] == '"')
            {
                if (i + 1 >= inner.Length || inner[i + 1] != '"')
                {
                    throw new ReferenceUploadException("a quote inside a quoted cell must be doubled (\"\")", line, column);
                }

                i++;
            }

            buffer[length++] = inner[i];
        }

        return buffer.AsSpan(0, length);
    }

    private static string Shorten(ReadOnlySpan<char> cell) => cell.Length <= 40 ? cell.ToString() : $"{cell[..40]}…";
}
