using System.Buffers;
using System.Buffers.Binary;

namespace ModelMonitor.Core.Statistics;

/// <summary>
/// A DDSketch (Masson, Rim and Lee, "DDSketch: a fast and fully-mergeable quantile sketch with
/// relative-error guarantees", VLDB 2019) for finite doubles of any sign.
/// </summary>
/// <remarks>
/// <para>
/// Mapping: with γ = (1 + α) / (1 − α), a positive value x falls in bin k = ⌈log_γ(x)⌉, i.e. the bin
/// (γ^(k−1), γ^k]. The bin's representative value 2·γ^k / (γ + 1) is within relative error α of every
/// value of the bin: at the upper edge |γ^k − 2γ^k/(γ+1)| / γ^k = (γ−1)/(γ+1) = α, and the same at the
/// lower edge. Negative values go to a second store by their magnitude; values whose magnitude is
/// below <see cref="MinIndexableValue"/> (zero and subnormals) are counted in a zero bin.
/// </para>
/// <para>
/// Quantile definition (the "lower" nearest rank): for n values sorted ascending v[0..n−1],
/// the q-quantile is v[⌊q·(n − 1)⌋]. <see cref="Quantile"/> returns a value within relative error α of
/// that element, provided no bin was collapsed.
/// </para>
/// <para>
/// Bounded size: each sign keeps at most <see cref="MaxBinsPerSign"/> contiguous bins; when a new bin
/// would exceed that, the lowest bins are collapsed into the lowest kept one (the values of smallest
/// magnitude lose accuracy first). With α = 1% and 2048 bins a sign covers a dynamic range of
/// γ^2048 ≈ 6·10^17 before any collapse.
/// </para>
/// <para>
/// Two sketches with the same α merge exactly: the merge equals the sketch of the union.
/// </para>
/// </remarks>
public sealed class DDSketch
{
    public const double DefaultRelativeAccuracy = 0.01;
    public const int DefaultMaxBinsPerSign = 2048;

    /// <summary>The first byte of every serialized sketch; bump it when the format changes.</summary>
    public const byte SerializationVersion = 1;

    /// <summary>Magnitudes below this (zero and subnormal doubles) are counted in the zero bin.</summary>
    public const double MinIndexableValue = 2.2250738585072014E-308; // the smallest normal double

    // The largest bin count a serialized sketch may claim; protects deserialization from garbage.
    // Index bound: far beyond any real index (±37,300 at α = 1%), far from int overflow.
    private const long MaxAbsoluteIndex = 1 << 30;

    private const int MaxAllowedBinsPerSign = 1 << 16;

    private readonly double _lnGamma;
    private readonly double _multiplier;   // 1 / ln γ
    private readonly double _valueFactor;  // 2 / (γ + 1): bin k represents γ^k · 2/(γ + 1)
    private readonly BinStore _positive;
    private readonly BinStore _negative;
    private long _zeroCount;

    public DDSketch(double relativeAccuracy = DefaultRelativeAccuracy, int maxBinsPerSign = DefaultMaxBinsPerSign)
    {
        if (!(relativeAccuracy > 0 && relativeAccuracy < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(relativeAccuracy), relativeAccuracy, "The relative accuracy must be in (0, 1).");
        }

        if (maxBinsPerSign < 1 || maxBinsPerSign > MaxAllowedBinsPerSign)
        {
            throw new ArgumentOutOfRangeException(nameof(maxBinsPerSign), maxBinsPerSign, $"The bin bound must be in [1, {MaxAllowedBinsPerSign}].");
        }

        RelativeAccuracy = relativeAccuracy;
        MaxBinsPerSign = maxBinsPerSign;
        var gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy);
        _lnGamma = Math.Log(gamma);
        _multiplier = 1 / _lnGamma;
        _valueFactor = 2 / (gamma + 1);
        _table = relativeAccuracy == DefaultRelativeAccuracy ? DefaultValues.Value : null;
        _positive = new BinStore(maxBinsPerSign);
        _negative = new BinStore(maxBinsPerSign);
    }

    public double RelativeAccuracy { get; }

    public int MaxBinsPerSign { get; }

    /// <summary>How many values the sketch holds.</summary>
    public long Count => _zeroCount + _positive.Total + _negative.Total;

    public bool IsEmpty => Count == 0;

    /// <summary>Non-empty bins, all signs together (the zero bin counts as one): a measure of size.</summary>
    public int BinCount => _positive.NonEmptyBins + _negative.NonEmptyBins + (_zeroCount > 0 ? 1 : 0);

    /// <summary>Approximate bytes this sketch holds in memory (its objects and bin arrays), for memory bounds.</summary>
    public long EstimatedBytes => 160 + _positive.EstimatedBytes + _negative.EstimatedBytes;

    /// <summary>Adds one finite value.</summary>
    public void Add(double value) => Add(value, 1);

    /// <summary>Adds a finite value <paramref name="count"/> times.</summary>
    public void Add(double value, long count)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "Only finite values can be added to a sketch.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count == 0)
        {
            return;
        }

        if (value >= MinIndexableValue)
        {
            _positive.Add(Index(value), count);
        }
        else if (value <= -MinIndexableValue)
        {
            _negative.Add(Index(-value), count);
        }
        else
        {
            _zeroCount += count;
        }
    }

    /// <summary>
    /// Removes a value added earlier, <paramref name="count"/> times: decrements the bin <see cref="Add(double, long)"/> put
    /// it in, or the lowest kept bin when the value's bin lies below it (where a collapse moved it). Without a collapse this
    /// exactly undoes the adds: the sketch is then bin for bin that of the remaining values. Throws
    /// <see cref="InvalidOperationException"/>, leaving the sketch unchanged, when that bin holds fewer than
    /// <paramref name="count"/> values.
    /// </summary>
    public void Remove(double value, long count = 1)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "Only finite values can be removed from a sketch.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count == 0)
        {
            return;
        }

        if (value >= MinIndexableValue)
        {
            _positive.Remove(Index(value), count);
        }
        else if (value <= -MinIndexableValue)
        {
            _negative.Remove(Index(-value), count);
        }
        else if (_zeroCount >= count)
        {
            _zeroCount -= count;
        }
        else
        {
            throw new InvalidOperationException($"Cannot remove {count} zeros from a sketch holding {_zeroCount}.");
        }
    }

    /// <summary>How many values the bin holding <paramref name="value"/> has: its own bin, or the lowest kept one when the
    /// value lies too far below the highest bin to have its own (where <see cref="Add(double, long)"/> collapses it). Unlike
    /// <see cref="Remove"/>, a value merely below the lowest bin gets 0: it was not added.</summary>
    internal long CountAt(double value) =>
        value >= MinIndexableValue ? _positive.CountAt(Index(value))
        : value <= -MinIndexableValue ? _negative.CountAt(Index(-value))
        : _zeroCount;

    /// <summary>
    /// The q-quantile under the lower nearest-rank definition (see the remarks), or NaN when empty.
    /// </summary>
    public double Quantile(double q)
    {
        if (!(q >= 0 && q <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(q), q, "The quantile must be in [0, 1].");
        }

        var count = Count;
        if (count == 0)
        {
            return double.NaN;
        }

        // Zero-based rank of the wanted element; the answer is the bin whose cumulative count passes it.
        var rank = (long)Math.Floor(q * (count - 1));

        // Ascending order: negative values by decreasing magnitude, then zero, then positive values.
        if (rank < _negative.Total)
        {
            // The element of rank r among negatives (ascending) is the (total−1−r)-th by magnitude.
            var index = _negative.IndexOfRank(_negative.Total - 1 - rank);
            return -Value(index);
        }

        rank -= _negative.Total;
        if (rank < _zeroCount)
        {
            return 0;
        }

        rank -= _zeroCount;
        return Value(_positive.IndexOfRank(rank));
    }

    /// <summary>
    /// The quantiles of the ascending <paramref name="qs"/> into <paramref name="results"/>, each what
    /// <see cref="Quantile"/> gives, in one pass over the bins instead of one per quantile (the aggregator computes five
    /// for every row it writes).
    /// </summary>
    public void Quantiles(ReadOnlySpan<double> qs, Span<double> results)
    {
        if (results.Length < qs.Length)
        {
            throw new ArgumentException("One result per quantile is needed.", nameof(results));
        }

        for (var i = 0; i < qs.Length; i++)
        {
            if (!(qs[i] >= 0 && qs[i] <= 1) || (i > 0 && qs[i] < qs[i - 1]))
            {
                throw new ArgumentOutOfRangeException(nameof(qs), qs[i], "Quantiles must be in [0, 1], ascending.");
            }
        }

        var count = Count;
        if (count == 0)
        {
            results[..qs.Length].Fill(double.NaN);
            return;
        }

        Span<long> ranks = stackalloc long[qs.Length];
        Span<int> indexes = stackalloc int[qs.Length];
        for (var i = 0; i < qs.Length; i++)
        {
            ranks[i] = (long)Math.Floor(qs[i] * (count - 1));
        }

        // Ascending order: negative values by decreasing magnitude (their ranks by magnitude reversed), zero, positive.
        var negatives = 0;
        while (negatives < qs.Length && ranks[negatives] < _negative.Total)
        {
            negatives++;
        }

        if (negatives > 0)
        {
            var magnitudes = ranks[..negatives];
            magnitudes.Reverse();
            for (var j = 0; j < negatives; j++)
            {
                magnitudes[j] = _negative.Total - 1 - magnitudes[j];
            }

            _negative.IndexesOfRanks(magnitudes, indexes);
            for (var j = 0; j < negatives; j++)
            {
                results[negatives - 1 - j] = -Value(indexes[j]);
            }
        }

        var i0 = negatives;
        while (i0 < qs.Length && ranks[i0] - _negative.Total < _zeroCount)
        {
            results[i0++] = 0;
        }

        if (i0 < qs.Length)
        {
            var positive = ranks[i0..];
            for (var j = 0; j < positive.Length; j++)
            {
                positive[j] -= _negative.Total + _zeroCount;
            }

            _positive.IndexesOfRanks(positive, indexes);
            for (var j = 0; j < positive.Length; j++)
            {
                results[i0 + j] = Value(indexes[j]);
            }
        }
    }

    /// <summary>
    /// The value the sketch stands for <paramref name="value"/> with: the representative of the bin holding it (0 for the
    /// zero bin). Two values in one bin have the same representative, so comparing representatives compares values up to
    /// the sketch's resolution (what the drift measures do with a reference's min, max and deciles).
    /// </summary>
    public double Representative(double value)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "Only finite values have a bin.");
        }

        return value >= MinIndexableValue ? Value(Index(value))
            : value <= -MinIndexableValue ? -Value(Index(-value))
            : 0;
    }

    /// <summary>
    /// Replaces the content of <paramref name="points"/> by the sketch's bins in ascending order of value: each non-empty
    /// bin as (its representative value, its count). Every value of the sketch is within relative error α of the
    /// representative of its bin, so these points are the sketch's distribution, quantized.
    /// </summary>
    public void CopyPoints(List<SketchPoint> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        points.Clear();
        _negative.AppendDescending(points, index => -Value(index));
        if (_zeroCount > 0)
        {
            points.Add(new SketchPoint(0, _zeroCount));
        }

        _positive.AppendAscending(points, Value);
    }

    /// <summary>Adds every value of <paramref name="other"/> to this sketch.</summary>
    public void Merge(DDSketch other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.RelativeAccuracy != RelativeAccuracy)
        {
            throw new ArgumentException(
                $"Cannot merge a sketch of relative accuracy {other.RelativeAccuracy} into one of {RelativeAccuracy}.",
                nameof(other));
        }

        _zeroCount += other._zeroCount;
        _positive.Merge(other._positive);
        _negative.Merge(other._negative);
    }

    public DDSketch Clone()
    {
        var copy = new DDSketch(RelativeAccuracy, MaxBinsPerSign);
        copy.Merge(this);
        return copy;
    }

    /// <summary>
    /// Compact binary form: version byte, α (IEEE-754 little endian), bin bound, zero count, then for
    /// the positive and the negative store the number of non-empty bins followed by
    /// (zig-zag varint index delta, varint count) pairs in ascending index order.
    /// </summary>
    public byte[] Serialize()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(MaxSerializedLength);
        try
        {
            return buffer.AsSpan(0, Serialize(buffer)).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>An upper bound of the bytes <see cref="Serialize(Span{byte})"/> writes: header, and per non-empty bin two
    /// varints of at most 10 bytes each (a store's bin count and the zero count are varints too).</summary>
    public int MaxSerializedLength => 1 + 8 + 10 + 10 + 10 + 10 + ((_positive.NonEmptyBins + _negative.NonEmptyBins) * 20);

    /// <summary>Writes the form of <see cref="Serialize()"/> into <paramref name="destination"/> (at least
    /// <see cref="MaxSerializedLength"/> bytes) without allocating; the bytes written.</summary>
    public int Serialize(Span<byte> destination)
    {
        var position = 0;
        destination[position++] = SerializationVersion;
        BinaryPrimitives.WriteDoubleLittleEndian(destination[position..], RelativeAccuracy);
        position += 8;
        position += Varint.Write(destination[position..], (ulong)MaxBinsPerSign);
        position += Varint.Write(destination[position..], (ulong)_zeroCount);
        position += _positive.Serialize(destination[position..]);
        position += _negative.Serialize(destination[position..]);
        return position;
    }

    /// <summary>Reads a sketch written by <see cref="Serialize"/>; throws <see cref="FormatException"/> on bad input.</summary>
    public static DDSketch Deserialize(ReadOnlySpan<byte> data)
    {
        var (accuracy, maxBins, position) = ReadHeader(data);
        var sketch = new DDSketch(accuracy, maxBins);
        sketch.ReadCounts(data, position);
        return sketch;
    }

    /// <summary>
    /// Replaces this sketch's content by a serialized one of the same accuracy and bin bound (what <see cref="Serialize"/>
    /// of such a sketch wrote), reusing its bin arrays: no allocation once they are large enough. Throws
    /// <see cref="FormatException"/> on bad input and <see cref="ArgumentException"/> for another accuracy or bound.
    /// </summary>
    public void Load(ReadOnlySpan<byte> data)
    {
        var (accuracy, maxBins, position) = ReadHeader(data);
        if (accuracy != RelativeAccuracy || maxBins != MaxBinsPerSign)
        {
            throw new ArgumentException(
                $"A serialized sketch of relative accuracy {accuracy} and bound {maxBins} cannot be loaded into one of {RelativeAccuracy} and {MaxBinsPerSign}.",
                nameof(data));
        }

        Reset();
        ReadCounts(data, position);
    }

    // Version, accuracy and bin bound, checked; the position after them.
    private static (double Accuracy, int MaxBins, int Position) ReadHeader(ReadOnlySpan<byte> data)
    {
        if (data.Length < 9)
        {
            throw new FormatException("A serialized sketch is at least 9 bytes long.");
        }

        if (data[0] != SerializationVersion)
        {
            throw new FormatException($"Unknown sketch serialization version {data[0]} (expected {SerializationVersion}).");
        }

        var accuracy = BinaryPrimitives.ReadDoubleLittleEndian(data[1..]);
        if (!(accuracy > 0 && accuracy < 1))
        {
            throw new FormatException($"Invalid relative accuracy {accuracy} in a serialized sketch.");
        }

        var position = 9;
        var maxBins = Varint.Read(data, ref position);
        if (maxBins < 1 || maxBins > MaxAllowedBinsPerSign)
        {
            throw new FormatException($"Invalid bin bound {maxBins} in a serialized sketch.");
        }

        return (accuracy, (int)maxBins, position);
    }

    /// <summary>Empties the sketch (as new), keeping its bin arrays for reuse.</summary>
    public void Reset()
    {
        _zeroCount = 0;
        _positive.Reset();
        _negative.Reset();
    }

    // The zero count and both stores, from position to the end of data (the header already read).
    private void ReadCounts(ReadOnlySpan<byte> data, int position)
    {
        var zero = Varint.Read(data, ref position);
        if (zero > long.MaxValue)
        {
            throw new FormatException("The zero count of a serialized sketch is out of range.");
        }

        _zeroCount = (long)zero;
        _positive.Deserialize(data, ref position);
        _negative.Deserialize(data, ref position);
        if (position != data.Length)
        {
            throw new FormatException($"{data.Length - position} unexpected trailing bytes after a serialized sketch.");
        }
    }

    // ⌈log_γ(x)⌉ for x ≥ MinIndexableValue: between about −35,500 and +35,500 at α = 1%.
    private int Index(double magnitude) => (int)Math.Ceiling(Math.Log(magnitude) * _multiplier);

    // 2·γ^k/(γ+1), computed in log space so the largest bins do not overflow to infinity; at the default accuracy from a
    // table of every index's value worked out once with the same formula (the drift measures read every bin of two sketches
    // per comparison: an Exp per bin was most of their cost), so a bin's value is the same whichever way it is read.
    private double Value(int index) =>
        _table is { } table && (uint)(index + TableOffset) < (uint)table.Length
            ? table[index + TableOffset]
            : Math.Exp((index * _lnGamma) + Math.Log(_valueFactor));

    // Indexes of finite doubles at α = 1% lie within ±35,500 (see Index): the table covers them all.
    private const int TableOffset = 36_000;

    private static readonly Lazy<double[]> DefaultValues = new(() =>
    {
        var gamma = (1 + DefaultRelativeAccuracy) / (1 - DefaultRelativeAccuracy);
        var (lnGamma, logFactor) = (Math.Log(gamma), Math.Log(2 / (gamma + 1)));
        var values = new double[2 * TableOffset];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = Math.Exp(((i - TableOffset) * lnGamma) + logFactor);
        }

        return values;
    });

    private readonly double[]? _table;

    /// <summary>Counts per contiguous bin index, in one array, bounded to maxBins indices.</summary>
    private sealed class BinStore(int maxBins)
    {
        private long[] _counts = [];
        private int _offset;                   // bin index of _counts[0]
        private int _minIndex = int.MaxValue;  // lowest non-empty bin
        private int _maxIndex = int.MinValue;  // highest non-empty bin

        public long Total { get; private set; }

        /// <summary>Empties the store, keeping its array for the next Add to re-centre. Bins outside [min, max] are always
        /// 0, so only that range is cleared (a whole reused array was a 16 KB memset per accumulator per flush).</summary>
        public void Reset()
        {
            if (Total > 0)
            {
                Array.Clear(_counts, _minIndex - _offset, _maxIndex - _minIndex + 1);
            }

            Total = 0;
            _minIndex = int.MaxValue;
            _maxIndex = int.MinValue;
        }

        // Object header and fields, plus the array (its header and 8 bytes per bin).
        public long EstimatedBytes => 48 + (_counts.Length == 0 ? 0 : 24 + (8L * _counts.Length));

        public int NonEmptyBins
        {
            get
            {
                var bins = 0;
                for (var i = _minIndex; Total > 0 && i <= _maxIndex; i++)
                {
                    if (_counts[i - _offset] != 0)
                    {
                        bins++;
                    }
                }

                return bins;
            }
        }

        public void Add(int index, long count)
        {
            if (count == 0)
            {
                return;
            }

            if (Total == 0)
            {
                if (_counts.Length == 0)
                {
                    _counts = new long[Math.Min(64, maxBins)];
                }

                // Every bin is 0 here (see Reset).
                _offset = index - (_counts.Length / 2);
                _minIndex = _maxIndex = index;
            }
            else if (index < _minIndex || index > _maxIndex)
            {
                var low = Math.Min(_minIndex, index);
                var high = Math.Max(_maxIndex, index);
                long collapsed = 0;
                if ((long)high - low + 1 > maxBins)
                {
                    // Collapse the lowest bins: keep [high − maxBins + 1, high].
                    var newLow = high - maxBins + 1;
                    for (var i = _minIndex; i < newLow && i <= _maxIndex; i++)
                    {
                        collapsed += _counts[i - _offset];
                        _counts[i - _offset] = 0;
                    }

                    index = Math.Max(index, newLow);
                    low = newLow;
                }

                EnsureCovers(low, high, growDownward: low < _offset);
                _minIndex = low;
                _maxIndex = high;
                _counts[low - _offset] += collapsed;
            }

            _counts[index - _offset] += count;
            Total += count;
        }

        /// <summary>Takes <paramref name="count"/> from bin <paramref name="index"/>, or from the lowest bin when the index is
        /// below it (collapsed values are there, see <see cref="Add"/>); then narrows [min, max] to the non-empty bins again,
        /// which <see cref="Merge"/> and the cleared-range <see cref="Reset"/> rely on.</summary>
        public void Remove(int index, long count)
        {
            index = Math.Max(index, _minIndex);
            if (Total == 0 || index > _maxIndex || _counts[index - _offset] < count)
            {
                throw new InvalidOperationException($"Cannot remove {count} values from a sketch bin that holds fewer.");
            }

            _counts[index - _offset] -= count;
            Total -= count;
            if (Total == 0)
            {
                _minIndex = int.MaxValue;
                _maxIndex = int.MinValue;
                return;
            }

            while (_counts[_minIndex - _offset] == 0)
            {
                _minIndex++;
            }

            while (_counts[_maxIndex - _offset] == 0)
            {
                _maxIndex--;
            }
        }

        /// <summary>The count of the bin holding <paramref name="index"/>: its own, or the lowest when the index is below the
        /// range of maxBins bins ending at the highest one (see <see cref="DDSketch.CountAt"/>).</summary>
        public long CountAt(int index)
        {
            if (Total > 0 && index < (long)_maxIndex - maxBins + 1)
            {
                index = _minIndex;
            }

            return Total == 0 || index < _minIndex || index > _maxIndex ? 0 : _counts[index - _offset];
        }

        /// <summary>Adds every bin of <paramref name="other"/>: bin by bin into the array when the union of the two ranges
        /// fits in maxBins (the aggregator merges every window's sketches at every write), else through <see cref="Add"/>,
        /// which collapses the lowest bins.</summary>
        public void Merge(BinStore other)
        {
            if (other.Total == 0)
            {
                return;
            }

            var low = Total == 0 ? other._minIndex : Math.Min(_minIndex, other._minIndex);
            var high = Total == 0 ? other._maxIndex : Math.Max(_maxIndex, other._maxIndex);
            if ((long)high - low + 1 > maxBins)
            {
                for (var i = other._minIndex; i <= other._maxIndex; i++)
                {
                    Add(i, other._counts[i - other._offset]);
                }

                return;
            }

            // The two ends first (both non-empty), so the array covers the range; then the bins between them in place.
            Add(other._minIndex, other._counts[other._minIndex - other._offset]);
            if (other._maxIndex == other._minIndex)
            {
                return;
            }

            Add(other._maxIndex, other._counts[other._maxIndex - other._offset]);
            long added = 0;
            for (var i = other._minIndex + 1; i < other._maxIndex; i++)
            {
                var count = other._counts[i - other._offset];
                _counts[i - _offset] += count;
                added += count;
            }

            Total += added;
        }

        /// <summary>Non-empty bins by ascending index, as points of <paramref name="valueOf"/> their index.</summary>
        public void AppendAscending(List<SketchPoint> points, Func<int, double> valueOf)
        {
            for (var i = _minIndex; Total > 0 && i <= _maxIndex; i++)
            {
                if (_counts[i - _offset] is var count and > 0)
                {
                    points.Add(new SketchPoint(valueOf(i), count));
                }
            }
        }

        /// <summary>Non-empty bins by descending index (the negative store: ascending values).</summary>
        public void AppendDescending(List<SketchPoint> points, Func<int, double> valueOf)
        {
            for (var i = _maxIndex; Total > 0 && i >= _minIndex; i--)
            {
                if (_counts[i - _offset] is var count and > 0)
                {
                    points.Add(new SketchPoint(valueOf(i), count));
                }
            }
        }

        /// <summary>The bins holding the elements of the ascending zero-based <paramref name="ranks"/>, in one pass.</summary>
        public void IndexesOfRanks(ReadOnlySpan<long> ranks, Span<int> indexes)
        {
            long cumulative = 0;
            var r = 0;
            for (var i = _minIndex; i <= _maxIndex && r < ranks.Length; i++)
            {
                cumulative += _counts[i - _offset];
                while (r < ranks.Length && cumulative > ranks[r])
                {
                    indexes[r++] = i;
                }
            }

            while (r < ranks.Length)
            {
                indexes[r++] = _maxIndex;
            }
        }

        /// <summary>The bin holding the element of zero-based rank <paramref name="rank"/> (ascending index).</summary>
        public int IndexOfRank(long rank)
        {
            long cumulative = 0;
            for (var i = _minIndex; i <= _maxIndex; i++)
            {
                cumulative += _counts[i - _offset];
                if (cumulative > rank)
                {
                    return i;
                }
            }

            return _maxIndex;
        }

        public int Serialize(Span<byte> destination)
        {
            var position = Varint.Write(destination, (ulong)NonEmptyBins);
            long previous = 0;
            for (var i = _minIndex; Total > 0 && i <= _maxIndex; i++)
            {
                var count = _counts[i - _offset];
                if (count == 0)
                {
                    continue;
                }

                position += Varint.Write(destination[position..], Varint.ZigZag(i - previous));
                position += Varint.Write(destination[position..], (ulong)count);
                previous = i;
            }

            return position;
        }

        public void Deserialize(ReadOnlySpan<byte> data, ref int position)
        {
            var bins = Varint.Read(data, ref position);
            if (bins > (ulong)maxBins)
            {
                throw new FormatException($"A serialized sketch store claims {bins} bins, above its bound {maxBins}.");
            }

            long previous = 0;
            for (ulong b = 0; b < bins; b++)
            {
                var index = previous + Varint.UnZigZag(Varint.Read(data, ref position));
                var count = Varint.Read(data, ref position);
                if ((b > 0 && index <= previous) || Math.Abs(index) > MaxAbsoluteIndex)
                {
                    throw new FormatException("Bin indexes of a serialized sketch must be strictly ascending.");
                }

                if (count == 0 || count > long.MaxValue || (long)count > long.MaxValue - Total)
                {
                    throw new FormatException("Bin counts of a serialized sketch must be positive and bounded.");
                }

                if (b > 0 && index - _minIndex >= maxBins)
                {
                    throw new FormatException("A serialized sketch store spans more bins than its bound.");
                }

                Add((int)index, (long)count);
                previous = index;
            }
        }

        private void EnsureCovers(int low, int high, bool growDownward)
        {
            if (low >= _offset && high < _offset + _counts.Length)
            {
                return;
            }

            var needed = high - low + 1;
            var from = Math.Max(_minIndex, low); // bins below low were emptied by a collapse
            if (needed <= _counts.Length)
            {
                // The range fits, only off-centre (the array is centred on the first value): move the bins within it
                // instead of doubling it. Without this, stores reused window after window grew to maxBins (16 KB each).
                var shifted = growDownward ? high - _counts.Length + 1 : low;
                if (from <= _maxIndex)
                {
                    Array.Copy(_counts, from - _offset, _counts, from - shifted, _maxIndex - from + 1); // overlap-safe
                    Array.Clear(_counts, 0, from - shifted);
                    Array.Clear(_counts, _maxIndex - shifted + 1, _counts.Length - (_maxIndex - shifted + 1));
                }
                else
                {
                    Array.Clear(_counts);
                }

                _offset = shifted;
                return;
            }

            var length = Math.Max(needed, Math.Min(_counts.Length * 2, maxBins));
            var offset = growDownward ? high - length + 1 : low;
            var counts = new long[length];
            for (var i = from; i <= _maxIndex; i++)
            {
                counts[i - offset] = _counts[i - _offset];
            }

            _counts = counts;
            _offset = offset;
        }
    }
}

/// <summary>A bin of a sketch: its representative value and how many values it holds.</summary>
public readonly record struct SketchPoint(double Value, long Count);
