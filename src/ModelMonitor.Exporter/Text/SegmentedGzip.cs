using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;

namespace ModelMonitor.Exporter.Text;

/// <summary>
/// The gzip form of an exposition made of segments, compressed once per refresh, where a segment that is the same memory
/// as one of the last refresh's (the drift families served again: hundreds of MB of text) keeps its compressed bytes
/// instead of being compressed again. Each segment is compressed on its own as raw DEFLATE ended by a sync flush
/// (byte-aligned, no final block), and the pieces are joined into ONE gzip member (RFC 1952): the header, the pieces, an
/// empty final block, the CRC-32 and length of the whole text. Not a gzip file of several members, which would be
/// shorter to write: curl and browsers read only the first member of those. One per <see cref="ExpositionCache"/>, used
/// by its publisher only.
/// </summary>
public sealed class SegmentedGzip
{
    // ID1 ID2, CM = deflate, FLG = 0, MTIME = 0 (none), XFL = 0, OS = 255 (unknown).
    private static readonly byte[] Header = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

    // A final (BFINAL = 1) fixed-Huffman block holding only its end-of-block code: 3 bits, then 7, padded to 2 bytes.
    private static readonly byte[] FinalBlock = [0x03, 0x00];

    // The last refresh's segments and their pieces, as slices of the gzip form it published (held anyway while it is
    // served): keeping them costs no memory of its own.
    private List<(ReadOnlyMemory<byte> Segment, ReadOnlyMemory<byte> Deflated)> _last = [];

    /// <summary>Segments whose compressed bytes were reused since start.</summary>
    public long Reused { get; private set; }

    /// <summary>The gzip form of the segments' concatenation.</summary>
    public byte[] Compress(IReadOnlyList<ReadOnlyMemory<byte>> segments)
    {
        var pieces = new List<(ReadOnlyMemory<byte> Segment, ReadOnlyMemory<byte> Deflated)>(segments.Count);
        var crc = new Crc32();
        long length = 0, size = Header.Length + FinalBlock.Length + 8;
        foreach (var segment in segments)
        {
            var index = _last.FindIndex(p => p.Segment.Equals(segment));
            ReadOnlyMemory<byte> deflated;
            if (index < 0)
            {
                deflated = Deflate(segment.Span);
            }
            else
            {
                deflated = _last[index].Deflated;
                Reused++;
            }
            pieces.Add((segment, deflated));
            crc.Append(segment.Span);
            length += segment.Length;
            size += deflated.Length;
        }
        var gzip = new byte[size];
        var output = gzip.AsSpan();
        Header.CopyTo(output);
        output = output[Header.Length..];
        var offset = Header.Length;
        _last = new(pieces.Count);
        foreach (var (segment, deflated) in pieces)
        {
            deflated.Span.CopyTo(output);
            output = output[deflated.Length..];
            _last.Add((segment, gzip.AsMemory(offset, deflated.Length)));
            offset += deflated.Length;
        }
        FinalBlock.CopyTo(output);
        output = output[FinalBlock.Length..];
        BinaryPrimitives.WriteUInt32LittleEndian(output, crc.GetCurrentHashAsUInt32());
        BinaryPrimitives.WriteUInt32LittleEndian(output[4..], unchecked((uint)length)); // ISIZE: the length modulo 2^32
        return gzip;
    }

    /// <summary>Raw DEFLATE of <paramref name="text"/> ending in a sync flush: every byte emitted, no final block, so
    /// another piece can follow it in the same stream.</summary>
    private static byte[] Deflate(ReadOnlySpan<byte> text)
    {
        using var buffer = new MemoryStream((text.Length / 8) + 64);
        var deflate = new DeflateStream(buffer, CompressionLevel.Fastest, leaveOpen: true);
        deflate.Write(text);
        deflate.Flush(); // Z_SYNC_FLUSH: byte-aligned, ends with an empty stored block
        var piece = buffer.ToArray();
        // Disposing would append the final block; the piece is what was flushed before that.
        deflate.Dispose();
        return piece;
    }
}
