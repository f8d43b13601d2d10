using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.References;
using Parquet;
using Parquet.Schema;

namespace ModelMonitor.References.Upload;

/// <summary>
/// Reads a Parquet reference with Parquet.Net: every flat column a feature (numbers of any width, booleans, strings;
/// null = missing), <c>prediction_result</c> the model's output. Parquet keeps its index at the end of the file, so the
/// body is first spooled to a temporary file (deleted on close): memory holds one row group's columns at a time, not the
/// file. Columns of other types (timestamps, binary, lists, structs) are refused by name: drop or cast them.
/// </summary>
public static class ParquetReferenceReader
{
    public static async Task ReadAsync(Stream body, ReferenceBuilder builder, UploadLimits limits, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(limits);
        var path = Path.Combine(Path.GetTempPath(), $"modelmonitor-reference-{Guid.NewGuid():N}.parquet");
        await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 64 * 1024,
            FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        await body.CopyToAsync(file, cancellationToken);
        if (file.Length == 0)
        {
            throw new ReferenceUploadException("the upload is empty");
        }

        file.Position = 0;
        ParquetReader reader;
        try
        {
            reader = await ParquetReader.CreateAsync(file, null, leaveStreamOpen: true, cancellationToken);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or ArgumentException or InvalidOperationException)
        {
            throw new ReferenceUploadException($"not a Parquet file ({e.Message})");
        }

        await using (reader)
        {
            var fields = reader.Schema.Fields;
            var columns = new List<DataField>();
            foreach (var field in fields)
            {
                if (field is not DataField data || data.IsArray)
                {
                    throw new ReferenceUploadException($"a {field.SchemaType} column: only flat columns of numbers, booleans and strings are features", column: field.Name);
                }

                if (Kind(data.ClrType) is null)
                {
                    throw new ReferenceUploadException($"a column of {data.ClrType.Name}: only numbers, booleans and strings are features (drop or cast it)", column: field.Name);
                }

                columns.Add(data);
            }

            if (columns.Count > limits.MaxColumns)
            {
                throw new ReferenceUploadException($"{columns.Count} columns, more than the limit of {limits.MaxColumns} (References:MaxColumns)", status: 413);
            }

            if (columns.Select(c => c.Name).Distinct(StringComparer.Ordinal).Count() != columns.Count)
            {
                throw new ReferenceUploadException("two columns have the same name");
            }

            long rowNumber = 0;
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                var rows = checked((int)group.RowCount);
                var values = new Column[columns.Count];
                for (var c = 0; c < columns.Count; c++)
                {
                    values[c] = await ReadColumnAsync(group, columns[c], rows, limits, cancellationToken);
                }

                for (var r = 0; r < rows; r++)
                {
                    rowNumber++;
                    var row = builder.Row;
                    for (var c = 0; c < columns.Count; c++)
                    {
                        var name = columns[c].Name;
                        var value = values[c].Get(r);
                        if (name == CsvReferenceReader.PredictionColumn)
                        {
                            if (value.Kind == FeatureValueKind.Number)
                            {
                                row.Prediction.Add(value.Number);
                            }
                            else if (!value.IsNull)
                            {
                                throw new ReferenceUploadException("prediction_result must be numbers", rowNumber, name);
                            }

                            continue;
                        }

                        row.Feature(name).Add(value);
                    }

                    builder.EndRow();
                    limits.CheckRows(builder.Rows, rowNumber);
                }
            }
        }

        if (builder.Rows == 0)
        {
            throw new ReferenceUploadException("the upload has no rows");
        }
    }

    private enum ValueKind
    {
        Number,
        Boolean,
        Text,
    }

    private static ValueKind? Kind(Type type) =>
        type == typeof(bool) ? ValueKind.Boolean
        : IsText(type) ? ValueKind.Text
        : type == typeof(double) || type == typeof(float) || type == typeof(decimal)
          || type == typeof(long) || type == typeof(int) || type == typeof(short) || type == typeof(sbyte)
          || type == typeof(ulong) || type == typeof(uint) || type == typeof(ushort) || type == typeof(byte) ? ValueKind.Number
        : null;

    // Parquet.Net describes a UTF-8 column read back from a file as ReadOnlyMemory<char>; it reads as strings.
    private static bool IsText(Type type) => type == typeof(string) || type == typeof(ReadOnlyMemory<char>);

    /// <summary>One column of a row group as values.</summary>
    private sealed class Column(FeatureValue[] values)
    {
        public FeatureValue Get(int row) => values[row];
    }

    private static async Task<Column> ReadColumnAsync(ParquetRowGroupReader group, DataField field, int rows, UploadLimits limits, CancellationToken cancellationToken)
    {
        var values = new FeatureValue[rows];
        var type = field.ClrType;
        if (IsText(type))
        {
            var strings = new string?[rows];
            await group.ReadAsync(field, strings.AsMemory(), null, cancellationToken);
            for (var i = 0; i < rows; i++)
            {
                if (strings[i] is not { } text)
                {
                    values[i] = FeatureValue.Null;
                    continue;
                }

                if (text.Length > limits.MaxStringLength || text.Contains('\0'))
                {
                    throw new ReferenceUploadException($"a string longer than {limits.MaxStringLength} characters or with U+0000", null, field.Name);
                }

                values[i] = FeatureValue.FromString(text);
            }

            return new Column(values);
        }

        if (type == typeof(bool))
        {
            var booleans = await ReadAsync<bool>(group, field, rows, cancellationToken);
            for (var i = 0; i < rows; i++)
            {
                values[i] = booleans[i] is { } b ? FeatureValue.FromBoolean(b) : FeatureValue.Null;
            }

            return new Column(values);
        }

        var numbers = type == typeof(double) ? await ReadAsync<double>(group, field, rows, cancellationToken)
            : type == typeof(float) ? Widen(await ReadAsync<float>(group, field, rows, cancellationToken), v => v)
            : type == typeof(decimal) ? Widen(await ReadAsync<decimal>(group, field, rows, cancellationToken), v => (double)v)
            : type == typeof(long) ? Widen(await ReadAsync<long>(group, field, rows, cancellationToken), v => v)
            : type == typeof(int) ? Widen(await ReadAsync<int>(group, field, rows, cancellationToken), v => v)
            : type == typeof(short) ? Widen(await ReadAsync<short>(group, field, rows, cancellationToken), v => v)
            : type == typeof(sbyte) ? Widen(await ReadAsync<sbyte>(group, field, rows, cancellationToken), v => v)
            : type == typeof(ulong) ? Widen(await ReadAsync<ulong>(group, field, rows, cancellationToken), v => v)
            : type == typeof(uint) ? Widen(await ReadAsync<uint>(group, field, rows, cancellationToken), v => v)
            : type == typeof(ushort) ? Widen(await ReadAsync<ushort>(group, field, rows, cancellationToken), v => v)
            : Widen(await ReadAsync<byte>(group, field, rows, cancellationToken), v => v);
        for (var i = 0; i < rows; i++)
        {
            values[i] = numbers[i] is { } n ? FeatureValue.FromNumber(n) : FeatureValue.Null;
        }

        return new Column(values);
    }

    private static async Task<T?[]> ReadAsync<T>(ParquetRowGroupReader group, DataField field, int rows, CancellationToken cancellationToken)
        where T : struct
    {
        var values = new T?[rows];
        if (field.IsNullable)
        {
            await group.ReadAsync(field, values.AsMemory(), null, cancellationToken);
            return values;
        }

        var required = new T[rows];
        await group.ReadAsync(field, required.AsMemory(), null, cancellationToken);
        for (var i = 0; i < rows; i++)
        {
            values[i] = required[i];
        }

        return values;
    }

    private static double?[] Widen<T>(T?[] values, Func<T, double> widen)
        where T : struct =>
        [.. values.Select(v => v is { } x ? widen(x) : (double?)null)];
}
