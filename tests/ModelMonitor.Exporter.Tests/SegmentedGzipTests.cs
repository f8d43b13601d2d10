using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.IO.Hashing;
using System.Text;
using ModelMonitor.Exporter.Text;

namespace ModelMonitor.Exporter.Tests;

/// <summary>The gzip form of a segmented exposition: one gzip member holding the whole text, whatever segments were
/// compressed again or reused, read back by .NET, by a raw DEFLATE decoder that must end exactly at the trailer (a second
/// member would not), and by gzip(1).</summary>
public class SegmentedGzipTests
{
    private static ReadOnlyMemory<byte> Text(string prefix, int lines) =>
        Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, lines).Select(i => $"{prefix}{{model_id=\"m{i % 37}\",feature=\"f{i}\"}} {i * 0.37}\n")));

    [Fact]
    public void Segments_compress_into_one_member_and_an_unchanged_segment_keeps_its_compressed_bytes()
    {
        var gzip = new SegmentedGzip();
        var (statistics, drift, empty) = (Text("modelmonitor_feature_mean", 5_000), Text("modelmonitor_feature_drift", 20_000), ReadOnlyMemory<byte>.Empty);
        AssertOneMember(gzip.Compress([statistics, drift, empty]), statistics, drift);
        Assert.Equal(0, gzip.Reused);

        // The next refresh: new statistics (another buffer), the drift families served again (the same memory).
        var next = Text("modelmonitor_feature_mean", 5_001);
        AssertOneMember(gzip.Compress([next, drift]), next, drift);
        Assert.Equal(1, gzip.Reused);

        // Equal bytes in another buffer are compressed again: only the same memory is known unchanged.
        var copy = drift.ToArray().AsMemory();
        AssertOneMember(gzip.Compress([next, copy]), next, copy);
        Assert.Equal(2, gzip.Reused); // next
        AssertOneMember(gzip.Compress([]));
    }

    private static void AssertOneMember(byte[] gzip, params ReadOnlyMemory<byte>[] segments)
    {
        var expected = segments.SelectMany(s => s.ToArray()).ToArray();
        using (var reader = new GZipStream(new MemoryStream(gzip), CompressionMode.Decompress))
        {
            using var text = new MemoryStream();
            reader.CopyTo(text);
            Assert.Equal(expected, text.ToArray());
        }

        // The DEFLATE data between the 10-byte header and the 8-byte trailer decodes to the whole text and ends there.
        Assert.Equal(new byte[] { 0x1f, 0x8b, 8 }, gzip[..3]);
        using (var deflate = new DeflateStream(new MemoryStream(gzip[10..^8]), CompressionMode.Decompress))
        {
            using var text = new MemoryStream();
            deflate.CopyTo(text);
            Assert.Equal(expected, text.ToArray());
        }
        Assert.Equal(Crc32.HashToUInt32(expected), BinaryPrimitives.ReadUInt32LittleEndian(gzip.AsSpan(gzip.Length - 8)));
        Assert.Equal((uint)expected.Length, BinaryPrimitives.ReadUInt32LittleEndian(gzip.AsSpan(gzip.Length - 4)));

        // gzip(1) tests the file: its CRC and length checks are its own.
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(file, gzip);
            using var process = Process.Start(new ProcessStartInfo("gzip", ["-t", "-v", "-S", Path.GetExtension(file), file]) { RedirectStandardError = true })!;
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, error);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
