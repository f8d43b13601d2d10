using System.Text;
using ModelMonitor.Core.References;
using ModelMonitor.References.Upload;
using Parquet;
using Parquet.Schema;

namespace ModelMonitor.References.Tests;

/// <summary>The upload readers on streams: what a file becomes (exact counts), and what a malformed one is told.</summary>
public sealed class UploadReaderTests
{
    private static readonly UploadLimits Limits = new(MaxRows: 1_000, MaxColumns: 10, MaxStringLength: 20);

    private static async Task<ReferenceProfile> CsvAsync(string text, UploadLimits? limits = null)
    {
        var builder = new ReferenceBuilder(1_000, chunkRows: 2, maxChunks: 10);
        await CsvReferenceReader.ReadAsync(new MemoryStream(Encoding.UTF8.GetBytes(text)), builder, limits ?? Limits, CancellationToken.None);
        return builder.Complete().Profile;
    }

    private static async Task<ReferenceUploadException> CsvFailsAsync(string text, UploadLimits? limits = null) =>
        await Assert.ThrowsAsync<ReferenceUploadException>(() => CsvAsync(text, limits));

    [Fact]
    public async Task A_csv_becomes_per_column_statistics_with_numbers_categories_booleans_missing_and_non_finite_cells()
    {
        var profile = await CsvAsync(""""
            distance_km,market,express,prediction_result
            1.5,paris,true,10
            2.5,"lyon, rhône",False,20
            ,paris,TRUE,
            NaN,"say ""hi""",true,30
            -inf,berlin,,40

            """".ReplaceLineEndings("\r\n"));
        Assert.Equal(5, profile.RowCount);
        var distance = profile.Features["distance_km"];
        Assert.Equal(4, distance.ValueCount); // the empty cell is missing
        Assert.Equal(2, distance.Numeric.Count);
        Assert.Equal(2, distance.NonFiniteCount);
        Assert.Equal(2.0, distance.Numeric.Moments.Mean, 12);
        var market = profile.Features["market"];
        Assert.Equal(["berlin", "lyon, rhône", "paris", "say \"hi\""], market.Categories.Top().Select(c => c.Key).Order(StringComparer.Ordinal));
        Assert.Equal(2, market.Categories.Top().Single(c => c.Key == "paris").Value);
        var express = profile.Features["express"];
        Assert.Equal(4, express.BooleanCount);
        Assert.Equal(3, express.Categories.Top().Single(c => c.Key == "true").Value);
        Assert.Equal(4, profile.Prediction.PredictionCount);
        Assert.Equal(25.0, profile.Prediction.Result.Moments.Mean, 12);
        Assert.False(profile.Features.ContainsKey("prediction_result"));
    }

    [Theory]
    [InlineData("a,b\n1,2\n3\n", 3L, null, "1 cells, but the header has 2 columns")]
    [InlineData("a,b\n1,2\n3,x\"y\n", 3L, "b", "a quote inside an unquoted cell")]
    [InlineData("a,b\n1,\"2\"x\n", 2L, "b", "does not end with a quote")]
    [InlineData("a,b\n1,\"2\n3,4\n", 2L, "b", "does not end with a quote")]
    [InlineData("a,a\n1,2\n", 1L, "a", "the same name as column 1")]
    [InlineData("a,\n1,2\n", 1L, null, "column 2 has no name")]
    [InlineData("a,b\n", null, null, "no rows")]
    [InlineData("", null, null, "empty")]
    [InlineData("a,prediction_result\n1,high\n", 2L, "prediction_result", "must be a number")]
    [InlineData("a\nabcdefghijklmnopqrstuvwxyz\n", 2L, "a", "longer than the limit of 20")]
    public async Task A_malformed_csv_is_refused_with_its_line_and_column(string text, long? line, string? column, string message)
    {
        var error = await CsvFailsAsync(text);
        Assert.Equal(400, error.Status);
        Assert.Equal(line, error.Line);
        Assert.Equal(column, error.Column);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_utf8_is_refused_not_turned_into_replacement_characters()
    {
        var bytes = Encoding.UTF8.GetBytes("a,b\n1,caf").Concat(new byte[] { 0xC3, 0x28 }).Concat(Encoding.UTF8.GetBytes("\n")).ToArray();
        var builder = new ReferenceBuilder(1_000);
        var error = await Assert.ThrowsAsync<ReferenceUploadException>(() =>
            CsvReferenceReader.ReadAsync(new MemoryStream(bytes), builder, Limits, CancellationToken.None));
        Assert.Contains("UTF-8", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Past_the_row_or_column_limit_is_413()
    {
        var rows = await CsvFailsAsync("a\n" + string.Concat(Enumerable.Repeat("1\n", 4)), Limits with { MaxRows = 3 });
        Assert.Equal(413, rows.Status);
        Assert.Equal(5, rows.Line);
        var columns = await CsvFailsAsync("a,b,c\n1,2,3\n", Limits with { MaxColumns = 2 });
        Assert.Equal(413, columns.Status);
    }

    [Fact]
    public async Task Ndjson_records_shaped_like_prediction_logs_become_a_profile()
    {
        var text = """
            {"sent_at":"2026-12-01T00:00:00Z","prediction_id":"p1","features":{"x":1,"market":"paris","ok":true},"prediction_result":0.5,"default_values_used":["x"]}

            {"features":{"x":3,"market":null},"prediction_result":"NaN"}
            """;
        var builder = new ReferenceBuilder(1_000);
        await NdjsonReferenceReader.ReadAsync(new MemoryStream(Encoding.UTF8.GetBytes(text)), builder, Limits, CancellationToken.None);
        var profile = builder.Complete().Profile;
        Assert.Equal(2, profile.RowCount);
        Assert.Equal(2.0, profile.Features["x"].Numeric.Moments.Mean, 12);
        Assert.Equal(1, profile.Features["x"].DefaultCount);
        Assert.Equal(1, profile.Features["market"].NullCount);
        Assert.Equal(1, profile.Features["ok"].BooleanCount);
        Assert.Equal(2, profile.Prediction.PredictionCount);
        Assert.Equal(1, profile.Prediction.NonFiniteCount);
    }

    [Theory]
    [InlineData("{\"features\":{\"x\":1}}\n[1]\n", 2L, "one JSON object")]
    [InlineData("{\"features\":{\"x\":{\"nested\":1}}}\n", 1L, "neither a number")]
    [InlineData("{\"prediction_result\":1}\n", 1L, "no \"features\"")]
    [InlineData("{\"features\":{\"x\":1}\n", 1L, "not valid JSON")]
    [InlineData("{\"features\":{\"x\":\"a\\u0000b\"}}\n", 1L, "U+0000")]
    public async Task A_malformed_ndjson_line_is_refused_with_its_line(string text, long line, string message)
    {
        var builder = new ReferenceBuilder(1_000);
        var error = await Assert.ThrowsAsync<ReferenceUploadException>(() =>
            NdjsonReferenceReader.ReadAsync(new MemoryStream(Encoding.UTF8.GetBytes(text)), builder, Limits, CancellationToken.None));
        Assert.Equal(line, error.Line);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_parquet_file_of_numbers_strings_and_booleans_becomes_a_profile()
    {
        var schema = new ParquetSchema(
            new DataField<double?>("distance_km"), new DataField<int>("stops"), new DataField<string>("market"),
            new DataField<bool?>("express"), new DataField<double>("prediction_result"));
        using var file = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(schema, file))
        {
            // Two row groups, to read more than one.
            foreach (var offset in new[] { 0, 3 })
            {
                using var group = writer.CreateRowGroup();
                await group.WriteAsync(schema.DataFields[0], (ReadOnlyMemory<double?>)new double?[] { 1 + offset, null, 3 + offset });
                await group.WriteAsync(schema.DataFields[1], (ReadOnlyMemory<int>)new[] { 1, 2, 3 });
                await group.WriteAsync(schema.DataFields[2], new[] { "paris", "lyon", null });
                await group.WriteAsync(schema.DataFields[3], (ReadOnlyMemory<bool?>)new bool?[] { true, false, null });
                await group.WriteAsync(schema.DataFields[4], (ReadOnlyMemory<double>)new[] { 0.1, 0.2, 0.3 });
            }
        }

        file.Position = 0;
        var builder = new ReferenceBuilder(1_000);
        await ParquetReferenceReader.ReadAsync(file, builder, Limits, CancellationToken.None);
        var profile = builder.Complete().Profile;
        Assert.Equal(6, profile.RowCount);
        Assert.Equal(4, profile.Features["distance_km"].Numeric.Count);
        Assert.Equal((1 + 3 + 4 + 6) / 4.0, profile.Features["distance_km"].Numeric.Moments.Mean, 12);
        Assert.Equal(2, profile.Features["distance_km"].NullCount);
        Assert.Equal(2.0, profile.Features["stops"].Numeric.Moments.Mean, 12);
        Assert.Equal(4, profile.Features["market"].CategoricalCount);
        Assert.Equal(4, profile.Features["express"].BooleanCount);
        Assert.Equal(6, profile.Prediction.Result.Count);
    }

    [Fact]
    public async Task A_file_that_is_not_parquet_is_refused()
    {
        var builder = new ReferenceBuilder(1_000);
        var error = await Assert.ThrowsAsync<ReferenceUploadException>(() =>
            ParquetReferenceReader.ReadAsync(new MemoryStream(Encoding.UTF8.GetBytes("a,b\n1,2\n")), builder, Limits, CancellationToken.None));
        Assert.Contains("not a Parquet file", error.Message, StringComparison.Ordinal);
    }
}
