using ModelMonitor.Core.Drift;

namespace ModelMonitor.Core.Tests.Drift;

public sealed class CategoricalDriftTests
{
    private static KeyValuePair<string, long>[] Counts(params (string Label, long Count)[] counts) =>
        [.. counts.Select(c => new KeyValuePair<string, long>(c.Label, c.Count))];

    [Fact]
    public void The_same_category_mix_is_no_drift_whatever_the_totals()
    {
        var result = CategoricalDrift.Compare(Counts(("a", 50), ("b", 30), ("c", 20)), 100, Counts(("a", 5), ("b", 3), ("c", 2)), 10)!.Value;
        Assert.Equal(0, result.Linf, 12);
        Assert.Equal(0, result.JensenShannon, 12);
        Assert.Equal(0, result.Psi, 12);
        Assert.Equal(0, result.UnseenCategoryRatio);
    }

    [Fact]
    public void Disjoint_categories_are_the_largest_drift_and_all_unseen()
    {
        var result = CategoricalDrift.Compare(Counts(("a", 60), ("b", 40)), 100, Counts(("x", 7), ("y", 3)), 10)!.Value;
        Assert.Equal(0.7, result.Linf, 12); // x: 0 → 0.7
        Assert.Equal(1, result.JensenShannon, 12);
        Assert.Equal(1, result.UnseenCategoryRatio, 12);
    }

    [Fact]
    public void Shares_are_compared_category_by_category_as_computed_by_hand()
    {
        // p = (a .2, b .3, c .5), q = (a .5, b .3, c .2), no other on either side.
        var result = CategoricalDrift.Compare(Counts(("a", 2), ("b", 3), ("c", 5)), 10, Counts(("a", 50), ("b", 30), ("c", 20)), 100)!.Value;
        Assert.Equal(0.3, result.Linf, 12);
        Assert.Equal(0.30954095367714807, result.JensenShannon, 12);
        Assert.Equal((0.3 * Math.Log(0.5 / 0.2)) + (-0.3 * Math.Log(0.2 / 0.5)), result.Psi, 12);
    }

    [Fact]
    public void A_category_one_side_folded_into_other_is_not_read_as_drift()
    {
        // The window kept only its top value (b folded into __other__): b is compared within other on both sides.
        var result = CategoricalDrift.Compare(Counts(("a", 50), ("b", 50)), 100, Counts(("a", 5), ("__other__", 5)), 10)!.Value;
        Assert.Equal(0, result.Linf, 12);
        Assert.Equal(0, result.UnseenCategoryRatio);
    }

    [Fact]
    public void Unseen_ratio_is_the_window_share_of_categories_the_reference_lacks()
    {
        var result = CategoricalDrift.Compare(Counts(("a", 50), ("b", 50)), 100, Counts(("a", 6), ("b", 2), ("z", 2)), 10)!.Value;
        Assert.Equal(0.2, result.UnseenCategoryRatio, 12);
        Assert.Equal(0.3, result.Linf, 12); // b: 0.5 → 0.2
    }

    [Fact]
    public void Nothing_to_compare_gives_no_result()
    {
        Assert.Null(CategoricalDrift.Compare(Counts(("a", 1)), 1, [], 0));
    }
}
