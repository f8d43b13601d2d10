using ModelMonitor.Core.Evaluation;
using static ModelMonitor.Core.Tests.Evaluation.EvaluationPairs;

namespace ModelMonitor.Core.Tests.Evaluation;

/// <summary>Merging, serialization and retraction: the state must behave as the pairs it was built from.</summary>
public sealed class EvaluationStateTests
{
    [Theory]
    [MemberData(nameof(Tasks), MemberType = typeof(EvaluationPairs))]
    public void Merging_two_halves_equals_the_whole(EvaluationTask task)
    {
        var pairs = Generate(task, 4_000, seed: 21);
        var whole = Build(task, pairs, predictions: 5_000);
        var merged = Build(task, pairs[..1_500], predictions: 2_000);
        merged.Merge(Build(task, pairs[1_500..], predictions: 3_000));
        merged.Merge(new EvaluationAccumulator(task));

        AssertSummariesClose(whole.Summarize(), merged.Summarize());
        if (task == EvaluationTask.Multiclass)
        {
            Assert.Equal(whole.Serialize(), merged.Serialize()); // no sums: only counts and the sketch
        }
    }

    [Theory]
    [MemberData(nameof(Tasks), MemberType = typeof(EvaluationPairs))]
    public void A_serialization_round_trip_keeps_the_bytes_and_the_summary(EvaluationTask task)
    {
        foreach (var n in new[] { 0, 1, 2_000 })
        {
            var accumulator = Build(task, Generate(task, n, seed: n), predictions: n + 7, threshold: 0.3);
            var bytes = accumulator.Serialize();
            var restored = EvaluationAccumulator.Deserialize(bytes);

            Assert.Equal(EvaluationAccumulator.SerializationVersion, bytes[0]);
            Assert.Equal(bytes, restored.Serialize());
            Assert.Equal((accumulator.Task, accumulator.Threshold), (restored.Task, restored.Threshold));
            var (expected, actual) = (accumulator.Summarize(), restored.Summarize());
            Assert.Equal(Scalars(expected), Scalars(actual));
            Assert.Equal(expected.LabelDelayQuantiles, actual.LabelDelayQuantiles);
            Assert.Equal(expected.AbsErrorQuantiles, actual.AbsErrorQuantiles);
        }
    }

    [Fact]
    public void Serialized_accumulators_are_compact()
    {
        // Sparse histograms: a few hundred bytes, not 16 KB, for scores in a few bins.
        var binary = Build(EvaluationTask.Binary, Enumerable.Range(0, 1_000).Select(i => new Pair((i % 10) / 10.0, i % 3 == 0 ? 1 : 0, 60)));
        Assert.InRange(binary.Serialize().Length, 50, 200);
    }

    [Theory]
    [MemberData(nameof(Tasks), MemberType = typeof(EvaluationPairs))]
    public void Retracting_a_subset_equals_never_adding_it(EvaluationTask task)
    {
        var pairs = Generate(task, 3_000, seed: 22);
        var random = new Random(23);
        var retracted = pairs.Select(_ => random.Next(4) == 0).ToArray();
        var accumulator = Build(task, pairs, predictions: 3_000);
        foreach (var i in Enumerable.Range(0, pairs.Length).Where(i => retracted[i]).OrderBy(_ => random.Next()))
        {
            Add(accumulator, pairs[i], sign: -1);
        }

        var kept = Build(task, pairs.Where((_, i) => !retracted[i]), predictions: 3_000);
        AssertSummariesClose(kept.Summarize(), accumulator.Summarize());
        if (task == EvaluationTask.Multiclass)
        {
            Assert.Equal(kept.Serialize(), accumulator.Serialize());
        }
    }

    [Theory]
    [MemberData(nameof(Tasks), MemberType = typeof(EvaluationPairs))]
    public void Retracting_every_pair_leaves_an_accumulator_without_pairs(EvaluationTask task)
    {
        var pairs = Generate(task, 1_000, seed: 24);
        var accumulator = Build(task, pairs, predictions: 1_000);
        foreach (var pair in pairs.Reverse())
        {
            Add(accumulator, pair, sign: -1);
        }

        var expected = new EvaluationAccumulator(task);
        expected.CountPredictions(1_000);
        AssertSummariesClose(expected.Summarize(), accumulator.Summarize());
        Assert.Equal(0, accumulator.Summarize().LabelCoverage);
        if (task == EvaluationTask.Multiclass)
        {
            Assert.Equal(expected.Serialize(), accumulator.Serialize()); // only the sums of the other tasks keep rounding
        }
    }

    [Theory]
    [MemberData(nameof(Tasks), MemberType = typeof(EvaluationPairs))]
    public void A_replaced_outcome_equals_building_with_the_new_one(EvaluationTask task)
    {
        var pairs = Generate(task, 2_000, seed: 25);
        var newOutcomes = Generate(task, 2_000, seed: 26);
        var replaced = pairs.Select((p, i) => i % 5 == 0 ? p with { Actual = newOutcomes[i].Actual, Delay = newOutcomes[i].Delay } : p).ToArray();
        var expected = Build(task, replaced, predictions: 2_000).Summarize();

        // In the state itself.
        var accumulator = Build(task, pairs, predictions: 2_000);
        for (var i = 0; i < pairs.Length; i += 5)
        {
            Add(accumulator, pairs[i], sign: -1);
            Add(accumulator, replaced[i]);
        }

        AssertSummariesClose(expected, accumulator.Summarize());

        // As the join does it: in a contribution of its own (stored, then merged into the stored state).
        var stored = Build(task, pairs, predictions: 2_000);
        var contribution = new EvaluationAccumulator(task);
        for (var i = 0; i < pairs.Length; i += 5)
        {
            Add(contribution, pairs[i], sign: -1);
            Add(contribution, replaced[i]);
        }

        Assert.Equal(0, contribution.LabelledCount);
        Assert.False(contribution.IsEmpty);
        stored.Merge(EvaluationAccumulator.Deserialize(contribution.Serialize()));
        AssertSummariesClose(expected, stored.Summarize());
    }

    [Theory]
    [MemberData(nameof(Tasks), MemberType = typeof(EvaluationPairs))]
    public void A_contribution_that_only_retracts_cancels_the_pairs_of_the_state_it_is_merged_into(EvaluationTask task)
    {
        var pairs = Generate(task, 2_000, seed: 30);
        var contribution = new EvaluationAccumulator(task);
        foreach (var pair in pairs[..700])
        {
            Add(contribution, pair, sign: -1);
        }

        Assert.Equal(-700, contribution.LabelledCount);
        var restored = EvaluationAccumulator.Deserialize(contribution.Serialize());
        Assert.Equal(contribution.Serialize(), restored.Serialize());

        var stored = Build(task, pairs, predictions: 2_000);
        stored.Merge(restored);
        var expected = Build(task, pairs[700..], predictions: 2_000);
        AssertSummariesClose(expected.Summarize(), stored.Summarize());
        if (task == EvaluationTask.Multiclass)
        {
            Assert.Equal(expected.Serialize(), stored.Serialize());
        }
    }

    [Theory]
    [MemberData(nameof(Tasks), MemberType = typeof(EvaluationPairs))]
    public void A_retraction_before_its_add_waits_and_the_add_cancels_it_exactly(EvaluationTask task)
    {
        var pair = Generate(task, 1, seed: 31)[0];
        var accumulator = new EvaluationAccumulator(task);
        Add(accumulator, pair, sign: -1);
        Assert.False(accumulator.IsEmpty);
        Assert.Equal(-1, accumulator.LabelledCount);
        Assert.All(Scalars(accumulator.Summarize()).Skip(2), Assert.Null);

        Add(accumulator, pair);
        Assert.True(accumulator.IsEmpty);
        Assert.Equal(new EvaluationAccumulator(task).Serialize(), accumulator.Serialize());
    }

    [Fact]
    public void Accumulators_of_another_task_or_threshold_do_not_merge()
    {
        var binary = new EvaluationAccumulator(EvaluationTask.Binary, 0.5);
        Assert.Throws<ArgumentException>(() => binary.Merge(new EvaluationAccumulator(EvaluationTask.Binary, 0.6)));
        Assert.Throws<ArgumentException>(() => binary.Merge(new EvaluationAccumulator(EvaluationTask.Multiclass, 0.5)));
    }

    [Theory]
    [MemberData(nameof(Tasks), MemberType = typeof(EvaluationPairs))]
    public void An_accumulator_merged_into_itself_counts_every_pair_twice(EvaluationTask task)
    {
        var pairs = Generate(task, 500, seed: 27);
        var accumulator = Build(task, pairs, predictions: 600);
        accumulator.Merge(accumulator);
        AssertSummariesClose(Build(task, [.. pairs, .. pairs], predictions: 1_200).Summarize(), accumulator.Summarize());
    }

    [Theory]
    [MemberData(nameof(Tasks), MemberType = typeof(EvaluationPairs))]
    public void Corrupt_bytes_are_refused_with_a_format_error(EvaluationTask task)
    {
        var good = Build(task, Generate(task, 40, seed: 28), predictions: 50).Serialize();
        for (var length = 0; length < good.Length; length++)
        {
            Assert.Throws<FormatException>(() => EvaluationAccumulator.Deserialize(good.AsSpan(0, length)));
        }

        Assert.Throws<FormatException>(() => EvaluationAccumulator.Deserialize([.. good, 0]));
        Assert.Throws<FormatException>(() => EvaluationAccumulator.Deserialize([2, .. good[1..]]));
        Assert.Throws<FormatException>(() => EvaluationAccumulator.Deserialize([good[0], 3, .. good[2..]]));

        var random = new Random(29);
        for (var i = 0; i < 3_000; i++)
        {
            var bytes = i % 3 == 0 ? RandomBytes(random, good.Length) : good.ToArray();
            bytes[random.Next(1, bytes.Length)] = (byte)random.Next(256);
            try
            {
                var accumulator = EvaluationAccumulator.Deserialize(bytes);
                _ = accumulator.Summarize();
                accumulator.Merge(EvaluationAccumulator.Deserialize(accumulator.Serialize()));
            }
            catch (FormatException)
            {
                // Refused cleanly: the only acceptable failure.
            }
        }
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        bytes[0] = EvaluationAccumulator.SerializationVersion;
        return bytes;
    }
}
