using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using ModelMonitor.Core.Statistics;

namespace ModelMonitor.Core.Evaluation;

/// <summary>
/// The evaluation state of one (window, predictor, model): the (prediction, outcome) pairs of one <see cref="Task"/>, kept
/// as counts, plain sums and sketches from which <see cref="Summarize"/> computes the metrics (their formulas are on
/// <see cref="EvaluationSummary"/>).
/// </summary>
/// <remarks>
/// <para>
/// Mergeable and subtractable: <see cref="Merge"/> adds another state, and a pair added with sign +1 is retracted with sign
/// −1 (a replaced outcome: retract the old pair, add the new one). The retraction may be made in this state or in a
/// contribution merged into it later: counts and sums are signed, and a sketched value (delay, absolute error) whose bin is
/// not held waits as a pending retraction that the add or the merge cancels. Once a retraction met its add, every count,
/// histogram and sketch bin is exactly what it would be had the pair never been added, and the sums are up to
/// floating-point rounding. Plain sums (Σe², Σy², …) rather than Welford or Chan updates, because only plain sums can be
/// subtracted; those that cannot be negative are clamped at 0 when read. The metrics of a state holding unmatched
/// retractions (a contribution alone) are not meaningful.
/// </para>
/// <para>
/// Multiclass keeps at most <see cref="MaxClasses"/> distinct classes; the pairs of the others are counted under
/// <see cref="CategoryCounter.OtherLabel"/>, as one class (a real class of that name too). A pair is a hit when its two
/// strings are equal (ordinal), whatever class it is counted under.
/// </para>
/// </remarks>
public sealed class EvaluationAccumulator
{
    /// <summary>The first byte of every serialized accumulator; bump it when the format changes.</summary>
    public const byte SerializationVersion = 1;

    /// <summary>Distinct classes a multiclass accumulator keeps before counting the rest as "other".</summary>
    public const int MaxClasses = 100;

    /// <summary>Equal-width bins of [0, 1] in the ROC AUC histograms.</summary>
    public const int AucBins = 1_000;

    private const double LogLossEpsilon = 1e-15;

    // ε = 2⁻⁵²: R² is not defined when SST ≤ n·ε·Σy², the rounding error of the plain sums (see EvaluationSummary.R2).
    private const double Epsilon = 2.220446049250313e-16;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private SignedSketch _delay = new();

    // Regression: Σe, Σ|e|, Σe², Σy, Σy², Σ|e|/|y| over y ≠ 0 and that count; the sketch of |e|.
    private double _sumError, _sumAbsError, _sumSquaredError, _sumActual, _sumSquaredActual, _sumRelativeError;
    private long _nonZeroActualCount;
    private SignedSketch _absError = new();

    // Binary: the confusion counts indexed by 2·actual + predicted (tn, fp, fn, tp); Σ log loss, Σ Brier; the AUC
    // histograms per outcome, allocated at the first pair.
    private readonly long[] _confusion = new long[4];
    private double _sumLogLoss, _sumBrier;
    private long[]? _positiveBins, _negativeBins;

    // Multiclass: counts per class (never all zero: a class whose counts return to 0 is removed).
    private readonly Dictionary<string, ClassCounts> _classes = new(StringComparer.Ordinal);

    /// <param name="task">What the pairs are.</param>
    /// <param name="threshold">Binary only: a score at or above it predicts positive. Any finite value.</param>
    public EvaluationAccumulator(EvaluationTask task, double threshold = 0.5)
    {
        if (!Enum.IsDefined(task))
        {
            throw new ArgumentOutOfRangeException(nameof(task), task, "Unknown evaluation task.");
        }

        if (!double.IsFinite(threshold))
        {
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "The threshold must be finite.");
        }

        Task = task;
        Threshold = threshold;
    }

    public EvaluationTask Task { get; }

    public double Threshold { get; }

    /// <summary>Predictions tracked for evaluation in this window, labelled or not.</summary>
    public long PredictionCount { get; private set; }

    /// <summary>Pairs currently counted: added minus retracted (negative in a contribution that only retracts).</summary>
    public long LabelledCount { get; private set; }

    /// <summary>No prediction, no pair and no pending retraction: the state of a new accumulator. (A replaced outcome leaves
    /// <see cref="LabelledCount"/> at 0 but is not empty; retracting every pair may leave rounding in the sums.)</summary>
    public bool IsEmpty =>
        PredictionCount == 0 && LabelledCount == 0 && _delay.IsEmpty && _absError.IsEmpty && _classes.Count == 0
        && !_confusion.AsSpan().ContainsAnyExcept(0) && !(_positiveBins ?? []).AsSpan().ContainsAnyExcept(0)
        && !(_negativeBins ?? []).AsSpan().ContainsAnyExcept(0)
        && !((ReadOnlySpan<double>)[_sumError, _sumAbsError, _sumSquaredError, _sumActual, _sumSquaredActual, _sumRelativeError, _sumLogLoss, _sumBrier])
            .ContainsAnyExcept(0);

    /// <summary>Counts <paramref name="count"/> more predictions (the denominator of the label coverage).</summary>
    public void CountPredictions(long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        PredictionCount += count;
    }

    /// <summary>Adds (sign +1) or retracts (sign −1) a regression pair. Throws <see cref="ArgumentException"/> for values
    /// whose error or square is not finite (beyond about 10¹⁵⁴).</summary>
    public void AddRegression(double prediction, double actual, double delaySeconds, int sign)
    {
        Expect(EvaluationTask.Regression);
        var error = prediction - actual;
        if (!double.IsFinite(error * error) || !double.IsFinite(actual * actual))
        {
            throw new ArgumentException($"A regression pair needs finite values with finite squares: prediction {prediction}, actual {actual}.");
        }

        AddDelay(delaySeconds, sign);
        var absError = Math.Abs(error);
        _absError.Add(absError, sign);
        _sumError += sign * error;
        _sumAbsError += sign * absError;
        _sumSquaredError += sign * error * error;
        _sumActual += sign * actual;
        _sumSquaredActual += sign * actual * actual;
        if (actual != 0)
        {
            _sumRelativeError += sign * absError / Math.Abs(actual);
            _nonZeroActualCount += sign;
        }
    }

    /// <summary>Adds (sign +1) or retracts (sign −1) a binary pair: the score is the prediction result. Throws
    /// <see cref="ArgumentException"/> for a non-finite score.</summary>
    public void AddBinary(double score, bool actualPositive, double delaySeconds, int sign)
    {
        Expect(EvaluationTask.Binary);
        if (!double.IsFinite(score))
        {
            throw new ArgumentException($"A binary score must be finite, not {score}.", nameof(score));
        }

        AddDelay(delaySeconds, sign);
        _confusion[(actualPositive ? 2 : 0) + (score >= Threshold ? 1 : 0)] += sign;
        var p = Math.Clamp(score, 0, 1);
        var bins = actualPositive ? _positiveBins ??= new long[AucBins] : _negativeBins ??= new long[AucBins];
        bins[Math.Min(AucBins - 1, (int)Math.Floor(p * AucBins))] += sign;
        var y = actualPositive ? 1.0 : 0.0;
        var clamped = Math.Clamp(score, LogLossEpsilon, 1 - LogLossEpsilon);
        _sumLogLoss += sign * -((y * Math.Log(clamped)) + ((1 - y) * Math.Log(1 - clamped)));
        _sumBrier += sign * (p - y) * (p - y);
    }

    /// <summary>Adds (sign +1) or retracts (sign −1) a multiclass pair.</summary>
    public void AddMulticlass(string predictedClass, string actualClass, double delaySeconds, int sign)
    {
        Expect(EvaluationTask.Multiclass);
        ArgumentNullException.ThrowIfNull(predictedClass);
        ArgumentNullException.ThrowIfNull(actualClass);
        AddDelay(delaySeconds, sign);
        var predicted = ClassOfName(predictedClass);
        predicted.Predicted += sign;
        predicted.Tp += predictedClass == actualClass ? sign : 0;
        var actual = ClassOfName(actualClass);
        actual.Actual += sign;
        RemoveIfEmpty(predicted);
        RemoveIfEmpty(actual);
    }

    /// <summary>Adds every prediction and pair of <paramref name="other"/> (and its retractions), which must have the same
    /// task and threshold. Exact in counts and sketches (the sums up to rounding), except that multiclass classes beyond
    /// <see cref="MaxClasses"/> fold into "other".</summary>
    public void Merge(EvaluationAccumulator other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Task != Task || other.Threshold != Threshold)
        {
            throw new ArgumentException(
                $"Cannot merge a {other.Task} evaluation (threshold {other.Threshold}) into a {Task} one (threshold {Threshold}).",
                nameof(other));
        }

        if (ReferenceEquals(other, this))
        {
            other = Deserialize(Serialize());
        }

        PredictionCount += other.PredictionCount;
        LabelledCount += other.LabelledCount;
        _delay.Merge(other._delay);
        _sumError += other._sumError;
        _sumAbsError += other._sumAbsError;
        _sumSquaredError += other._sumSquaredError;
        _sumActual += other._sumActual;
        _sumSquaredActual += other._sumSquaredActual;
        _sumRelativeError += other._sumRelativeError;
        _nonZeroActualCount += other._nonZeroActualCount;
        _absError.Merge(other._absError);
        _sumLogLoss += other._sumLogLoss;
        _sumBrier += other._sumBrier;
        for (var i = 0; i < _confusion.Length; i++)
        {
            _confusion[i] += other._confusion[i];
        }

        _positiveBins = AddBins(_positiveBins, other._positiveBins);
        _negativeBins = AddBins(_negativeBins, other._negativeBins);
        foreach (var (name, counts) in other._classes)
        {
            var mine = ClassOfName(name);
            mine.Tp += counts.Tp;
            mine.Predicted += counts.Predicted;
            mine.Actual += counts.Actual;
            RemoveIfEmpty(mine);
        }
    }

    /// <summary>The metrics (see <see cref="EvaluationSummary"/> for each formula).</summary>
    public EvaluationSummary Summarize()
    {
        var n = LabelledCount;
        var summary = new EvaluationSummary(
            PredictionCount, n, PredictionCount == 0 ? null : (double)n / PredictionCount,
            n > 0 && !_delay.Held.IsEmpty ? QuantilesOf(_delay.Held, EvaluationQuantiles.LabelDelay) : [],
            null, null, null, null, null, [], null, null, null, null, null, null, null);
        if (n <= 0)
        {
            return summary;
        }

        switch (Task)
        {
            case EvaluationTask.Regression:
                var sse = Math.Max(0, _sumSquaredError);
                var sst = _sumSquaredActual - (_sumActual * _sumActual / n);
                return summary with
                {
                    Mae = Math.Max(0, _sumAbsError) / n,
                    Rmse = Math.Sqrt(sse / n),
                    MeanError = _sumError / n,
                    Mape = _nonZeroActualCount > 0 ? Math.Max(0, _sumRelativeError) / _nonZeroActualCount : null,
                    R2 = n >= 2 && sst > n * Epsilon * _sumSquaredActual ? 1 - (sse / sst) : null,
                    AbsErrorQuantiles = _absError.Held.IsEmpty ? [] : QuantilesOf(_absError.Held, EvaluationQuantiles.AbsError),
                };
            case EvaluationTask.Binary:
                var (tn, fp, fn, tp) = (_confusion[0], _confusion[1], _confusion[2], _confusion[3]);
                double? precision = tp + fp > 0 ? (double)tp / (tp + fp) : null;
                double? recall = tp + fn > 0 ? (double)tp / (tp + fn) : null;
                return summary with
                {
                    Accuracy = (double)(tp + tn) / n,
                    Precision = precision,
                    Recall = recall,
                    F1 = HarmonicMean(precision, recall),
                    LogLoss = Math.Max(0, _sumLogLoss) / n,
                    Brier = Math.Max(0, _sumBrier) / n,
                    RocAuc = RocAuc(tp + fn, tn + fp),
                };
            default:
                if (_classes.Count == 0)
                {
                    return summary;
                }

                // In ordinal order, as serialized: the same sums however the classes came in.
                double hits = 0, precisions = 0, recalls = 0;
                foreach (var counts in _classes.Values.OrderBy(c => c.Name, StringComparer.Ordinal))
                {
                    hits += counts.Tp;
                    precisions += counts.Predicted > 0 ? (double)counts.Tp / counts.Predicted : 0;
                    recalls += counts.Actual > 0 ? (double)counts.Tp / counts.Actual : 0;
                }

                var (macroPrecision, macroRecall) = (precisions / _classes.Count, recalls / _classes.Count);
                return summary with
                {
                    Accuracy = hits / n,
                    Precision = macroPrecision,
                    Recall = macroRecall,
                    F1 = HarmonicMean(macroPrecision, macroRecall),
                };
        }
    }

    /// <summary>The class of a numeric prediction result in a multiclass evaluation: its shortest round-trip invariant text
    /// ("R"), so 2.0 gives "2", 0.5 gives "0.5", and −0 gives "0" like 0.</summary>
    public static string ClassOf(double predictionResult)
    {
        if (!double.IsFinite(predictionResult))
        {
            throw new ArgumentOutOfRangeException(nameof(predictionResult), predictionResult, "A class must be finite.");
        }

        return predictionResult == 0 ? "0" : predictionResult.ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Compact binary form: version byte, task byte, threshold (IEEE-754 little endian), then varints (zig-zag for the
    /// signed counts): prediction count, labelled count, the delay sketch's held and retracted values (each a
    /// length-prefixed <see cref="DDSketch.Serialize"/>). Regression: Σe, Σ|e|, Σe², Σy, Σy², Σ|e|/|y| (doubles), the count
    /// of y ≠ 0 and the |e| sketch. Binary: tn, fp, fn, tp, Σ log loss, Σ Brier (doubles), then the positive and the negative
    /// histograms sparsely: their non-empty bin count and (index gap, count) pairs. Multiclass: the class count, then per
    /// class in ordinal order its UTF-8 name (length-prefixed), tp, predicted, actual.
    /// </summary>
    public byte[] Serialize()
    {
        var writer = new ArrayBufferWriter<byte>(64);
        writer.Write([SerializationVersion, (byte)Task]);
        WriteDouble(writer, Threshold);
        WriteVarint(writer, (ulong)PredictionCount);
        WriteSigned(writer, LabelledCount);
        WriteSketch(writer, _delay);
        switch (Task)
        {
            case EvaluationTask.Regression:
                foreach (var sum in (ReadOnlySpan<double>)[_sumError, _sumAbsError, _sumSquaredError, _sumActual, _sumSquaredActual, _sumRelativeError])
                {
                    WriteDouble(writer, sum);
                }

                WriteSigned(writer, _nonZeroActualCount);
                WriteSketch(writer, _absError);
                break;
            case EvaluationTask.Binary:
                foreach (var count in _confusion)
                {
                    WriteSigned(writer, count);
                }

                WriteDouble(writer, _sumLogLoss);
                WriteDouble(writer, _sumBrier);
                WriteBins(writer, _positiveBins);
                WriteBins(writer, _negativeBins);
                break;
            default:
                WriteVarint(writer, (ulong)_classes.Count);
                foreach (var (name, counts) in _classes.OrderBy(c => c.Key, StringComparer.Ordinal))
                {
                    var bytes = StrictUtf8.GetBytes(name);
                    WriteVarint(writer, (ulong)bytes.Length);
                    writer.Write(bytes);
                    WriteSigned(writer, counts.Tp);
                    WriteSigned(writer, counts.Predicted);
                    WriteSigned(writer, counts.Actual);
                }

                break;
        }

        return writer.WrittenSpan.ToArray();
    }

    /// <summary>Reads what <see cref="Serialize"/> wrote, checking that its counts agree with each other; throws
    /// <see cref="FormatException"/> on bad input.</summary>
    public static EvaluationAccumulator Deserialize(ReadOnlySpan<byte> data)
    {
        var reader = new Reader(data);
        var version = reader.Byte();
        if (version != SerializationVersion)
        {
            throw new FormatException($"Unknown evaluation serialization version {version} (expected {SerializationVersion}).");
        }

        var task = (EvaluationTask)reader.Byte();
        if (!Enum.IsDefined(task))
        {
            throw new FormatException($"Unknown evaluation task {(int)task}.");
        }

        var accumulator = new EvaluationAccumulator(task, reader.Double()) { PredictionCount = reader.Count(), LabelledCount = reader.Signed() };
        var n = accumulator.LabelledCount;
        accumulator._delay = ReadSketch(ref reader, n);
        switch (task)
        {
            case EvaluationTask.Regression:
                accumulator._sumError = reader.Double();
                accumulator._sumAbsError = reader.Double();
                accumulator._sumSquaredError = reader.Double();
                accumulator._sumActual = reader.Double();
                accumulator._sumSquaredActual = reader.Double();
                accumulator._sumRelativeError = reader.Double();
                accumulator._nonZeroActualCount = reader.Signed();
                accumulator._absError = ReadSketch(ref reader, n);
                break;
            case EvaluationTask.Binary:
                var confusion = accumulator._confusion;
                for (var i = 0; i < confusion.Length; i++)
                {
                    confusion[i] = reader.Signed();
                }

                accumulator._sumLogLoss = reader.Double();
                accumulator._sumBrier = reader.Double();
                accumulator._positiveBins = ReadBins(ref reader, (Int128)confusion[2] + confusion[3]);
                accumulator._negativeBins = ReadBins(ref reader, (Int128)confusion[0] + confusion[1]);
                if ((Int128)confusion[0] + confusion[1] + confusion[2] + confusion[3] != n)
                {
                    throw new FormatException("The confusion counts of a serialized evaluation do not add up to its pairs.");
                }

                break;
            default:
                var classes = reader.Count();
                if (classes > MaxClasses + 1)
                {
                    throw new FormatException($"A serialized evaluation claims {classes} classes, above {MaxClasses} and other.");
                }

                string? previous = null;
                Int128 predictedTotal = 0, actualTotal = 0;
                for (var i = 0; i < classes; i++)
                {
                    var name = reader.String();
                    var counts = new ClassCounts(name) { Tp = reader.Signed(), Predicted = reader.Signed(), Actual = reader.Signed() };
                    if ((previous is not null && string.CompareOrdinal(previous, name) >= 0) || counts.IsEmpty)
                    {
                        throw new FormatException("The classes of a serialized evaluation are not ordered or have no count.");
                    }

                    accumulator._classes.Add(name, counts);
                    (previous, predictedTotal, actualTotal) = (name, predictedTotal + counts.Predicted, actualTotal + counts.Actual);
                }

                if (predictedTotal != n || actualTotal != n || accumulator.RealClassCount > MaxClasses)
                {
                    throw new FormatException("The class counts of a serialized evaluation do not add up to its pairs.");
                }

                break;
        }

        reader.End();
        return accumulator;
    }

    private int RealClassCount => _classes.Count - (_classes.ContainsKey(CategoryCounter.OtherLabel) ? 1 : 0);

    private void Expect(EvaluationTask task)
    {
        if (Task != task)
        {
            throw new InvalidOperationException($"A {task} pair cannot be added to a {Task} evaluation.");
        }
    }

    // Validates the sign and the delay, then counts the pair and max(0, delay): the part every task shares, done first so
    // that a refused pair changes nothing.
    private void AddDelay(double delaySeconds, int sign)
    {
        if (sign is not (1 or -1))
        {
            throw new ArgumentOutOfRangeException(nameof(sign), sign, "The sign is +1 (add) or −1 (retract).");
        }

        if (!double.IsFinite(delaySeconds))
        {
            throw new ArgumentException($"The label delay must be finite, not {delaySeconds}.", nameof(delaySeconds));
        }

        _delay.Add(Math.Max(0, delaySeconds), sign);
        LabelledCount += sign;
    }

    // The class a pair of this name counts under: its own when kept or when there is room, else "other".
    private ClassCounts ClassOfName(string name)
    {
        if (!_classes.TryGetValue(name, out var counts))
        {
            if (name != CategoryCounter.OtherLabel && RealClassCount >= MaxClasses)
            {
                return ClassOfName(CategoryCounter.OtherLabel);
            }

            _classes.Add(name, counts = new ClassCounts(name));
        }

        return counts;
    }

    private void RemoveIfEmpty(ClassCounts counts)
    {
        if (counts.IsEmpty)
        {
            _classes.Remove(counts.Name);
        }
    }

    private static double? HarmonicMean(double? precision, double? recall) =>
        precision is { } p && recall is { } r ? (p + r == 0 ? 0 : 2 * p * r / (p + r)) : null;

    // Σ_b pos_b·(neg_<b + ½·neg_b) / (P·N): every term an integer or a half, so exact below 2^52.
    private double? RocAuc(long positives, long negatives)
    {
        if (positives <= 0 || negatives <= 0 || _positiveBins is not { } pos || _negativeBins is not { } neg)
        {
            return null;
        }

        double concordant = 0, negativesBelow = 0;
        for (var b = 0; b < AucBins; b++)
        {
            concordant += pos[b] * (negativesBelow + (0.5 * neg[b]));
            negativesBelow += neg[b];
        }

        return concordant / ((double)positives * negatives);
    }

    private static (double Quantile, double Value)[] QuantilesOf(DDSketch sketch, double[] levels)
    {
        var values = new double[levels.Length];
        sketch.Quantiles(levels, values);
        return [.. levels.Select((q, i) => (q, values[i]))];
    }

    private static long[]? AddBins(long[]? mine, long[]? other)
    {
        if (other is null)
        {
            return mine;
        }

        mine ??= new long[AucBins];
        for (var b = 0; b < AucBins; b++)
        {
            mine[b] += other[b];
        }

        return mine;
    }

    private static void WriteVarint(ArrayBufferWriter<byte> writer, ulong value) => writer.Advance(Varint.Write(writer.GetSpan(10), value));

    private static void WriteSigned(ArrayBufferWriter<byte> writer, long value) => WriteVarint(writer, Varint.ZigZag(value));

    private static void WriteDouble(ArrayBufferWriter<byte> writer, double value)
    {
        BinaryPrimitives.WriteDoubleLittleEndian(writer.GetSpan(8), value);
        writer.Advance(8);
    }

    private static void WriteSketch(ArrayBufferWriter<byte> writer, SignedSketch sketch)
    {
        var (held, retracted) = sketch.Serialize();
        foreach (var bytes in (ReadOnlySpan<byte[]>)[held, retracted])
        {
            WriteVarint(writer, (ulong)bytes.Length);
            writer.Write(bytes);
        }
    }

    private static void WriteBins(ArrayBufferWriter<byte> writer, long[]? bins)
    {
        WriteVarint(writer, (ulong)(bins?.Count(c => c != 0) ?? 0));
        var previous = -1;
        for (var b = 0; bins is not null && b < bins.Length; b++)
        {
            if (bins[b] != 0)
            {
                WriteVarint(writer, (ulong)(b - previous));
                WriteSigned(writer, bins[b]);
                previous = b;
            }
        }
    }

    // The held and retracted sketches, whose difference must be `count` values.
    private static SignedSketch ReadSketch(ref Reader reader, long count)
    {
        var sketch = SignedSketch.Deserialize(reader.Bytes(), reader.Bytes());
        return (Int128)sketch.Held.Count - sketch.Retracted.Count == count
            ? sketch
            : throw new FormatException("A sketch of a serialized evaluation does not match its pairs.");
    }

    // A sparse histogram whose counts sum to `total`; null when empty.
    private static long[]? ReadBins(ref Reader reader, Int128 total)
    {
        var nonEmpty = reader.Count();
        if (nonEmpty > AucBins)
        {
            throw new FormatException($"A serialized evaluation claims {nonEmpty} histogram bins, above {AucBins}.");
        }

        var bins = nonEmpty == 0 ? null : new long[AucBins];
        Int128 sum = 0;
        var index = -1;
        for (var i = 0; i < nonEmpty; i++)
        {
            var gap = reader.Count();
            var count = reader.Signed();
            if (gap < 1 || gap > AucBins - 1 - index || count == 0)
            {
                throw new FormatException("Invalid histogram bin in a serialized evaluation.");
            }

            index += (int)gap;
            bins![index] = count;
            sum += count;
        }

        return sum == total ? bins : throw new FormatException("A histogram of a serialized evaluation does not add up to its pairs.");
    }

    private sealed class ClassCounts(string name)
    {
        public string Name { get; } = name;

        public long Tp { get; set; }

        public long Predicted { get; set; }

        public long Actual { get; set; }

        public bool IsEmpty => Tp == 0 && Predicted == 0 && Actual == 0;
    }

    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _position;

        public byte Byte() => _position < _data.Length ? _data[_position++] : throw Truncated();

        public long Count() =>
            Varint.Read(_data, ref _position) is var value && value <= long.MaxValue
                ? (long)value
                : throw new FormatException("A count of a serialized evaluation is out of range.");

        public long Signed() => Varint.UnZigZag(Varint.Read(_data, ref _position));

        public double Double()
        {
            if (_data.Length - _position < 8)
            {
                throw Truncated();
            }

            var value = BinaryPrimitives.ReadDoubleLittleEndian(_data[_position..]);
            _position += 8;
            return double.IsFinite(value) ? value : throw new FormatException("A serialized evaluation holds a non-finite number.");
        }

        public ReadOnlySpan<byte> Bytes()
        {
            var length = Count();
            if (length > _data.Length - _position)
            {
                throw Truncated();
            }

            var bytes = _data.Slice(_position, (int)length);
            _position += (int)length;
            return bytes;
        }

        public string String()
        {
            try
            {
                return StrictUtf8.GetString(Bytes());
            }
            catch (DecoderFallbackException e)
            {
                throw new FormatException("A class name of a serialized evaluation is not UTF-8.", e);
            }
        }

        public readonly void End()
        {
            if (_position != _data.Length)
            {
                throw new FormatException($"{_data.Length - _position} unexpected trailing bytes after a serialized evaluation.");
            }
        }

        private static FormatException Truncated() => new("A serialized evaluation is truncated.");
    }
}
