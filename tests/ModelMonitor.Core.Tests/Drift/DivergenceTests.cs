using ModelMonitor.Core.Drift;

namespace ModelMonitor.Core.Tests.Drift;

public sealed class DivergenceTests
{
    [Fact]
    public void Identical_shares_are_at_distance_zero_by_every_measure()
    {
        double[] shares = [0.1, 0.2, 0.3, 0.4];
        Assert.Equal(0, Divergence.Psi(shares, shares));
        Assert.Equal(0, Divergence.JensenShannonDistance(shares, shares));
        Assert.Equal(0, Divergence.Linf(shares, shares));
    }

    [Fact]
    public void Psi_is_the_sum_of_share_changes_times_their_log_ratio()
    {
        // (0.25 − 0.5)·ln(0.25/0.5) + (0.75 − 0.5)·ln(0.75/0.5), computed by hand.
        Assert.Equal(0.2746530721670274, Divergence.Psi([0.5, 0.5], [0.25, 0.75]), 12);
    }

    [Fact]
    public void Psi_replaces_an_empty_share_by_one_ten_thousandth_before_the_log()
    {
        // p = [1, 1e-4] (not renormalised), q = [0.5, 0.5].
        Assert.Equal(4.60431846666895, Divergence.Psi([1, 0], [0.5, 0.5]), 10);
    }

    [Fact]
    public void Jensen_shannon_distance_is_one_for_disjoint_shares_and_the_base_2_root_otherwise()
    {
        Assert.Equal(1, Divergence.JensenShannonDistance([1, 0], [0, 1]), 12);
        // scipy.spatial.distance.jensenshannon([1, 0], [0.5, 0.5], base=2) and ([.2, .3, .5], [.5, .3, .2], base=2).
        Assert.Equal(0.5579230452841438, Divergence.JensenShannonDistance([1, 0], [0.5, 0.5]), 12);
        Assert.Equal(0.30954095367714807, Divergence.JensenShannonDistance([0.2, 0.3, 0.5], [0.5, 0.3, 0.2]), 12);
    }

    [Fact]
    public void Linf_is_the_largest_change_of_one_share()
    {
        Assert.Equal(0.3, Divergence.Linf([0.2, 0.3, 0.5], [0.5, 0.3, 0.2]), 12);
    }

    [Fact]
    public void Shares_of_different_bins_are_refused()
    {
        Assert.Throws<ArgumentException>(() => Divergence.Psi([0.5, 0.5], [1.0]));
    }

    [Fact]
    public void Adaptive_threshold_is_mean_plus_three_sample_deviations_never_below_the_floor()
    {
        // mean 0.2, sample variance ((−0.1)² + 0 + 0.1²) / 2 = 0.01, sd 0.1: 0.2 + 0.3.
        Assert.Equal(0.5, DriftThreshold.From([0.1, 0.2, 0.3], floor: 0.1), 12);
        Assert.Equal(0.1, DriftThreshold.From([0.01, 0.01, 0.01], floor: 0.1), 12);
        Assert.Equal(0.1, DriftThreshold.From([0.9], floor: 0.1), 12); // one window says nothing about the spread
    }

    [Fact]
    public void A_type_mismatch_is_a_kind_of_value_the_reference_never_held()
    {
        var numeric = ObservedType.Of(numbers: 10, strings: 0, booleans: 0);
        var strings = ObservedType.Of(numbers: 0, strings: 3, booleans: 0);
        var mixed = ObservedType.Of(numbers: 10, strings: 3, booleans: 0);
        Assert.True(ObservedType.Mismatch(numeric, strings));
        Assert.True(ObservedType.Mismatch(numeric, mixed));
        Assert.False(ObservedType.Mismatch(mixed, strings));
        Assert.False(ObservedType.Mismatch(ValueTypes.None, strings));
        Assert.Equal("mixed", ObservedType.Name(mixed));
        Assert.Equal("numeric", ObservedType.Name(numeric));
    }

    [Fact]
    public void Method_labels_are_the_metric_contract()
    {
        Assert.Equal(["psi", "jensen_shannon", "ks", "wasserstein", "linf"], DriftMethods.All.Select(m => m.Label()));
        Assert.True(DriftMethods.TryParse("jensen_shannon", out var method));
        Assert.Equal(DriftMethod.JensenShannon, method);
        Assert.False(DriftMethods.TryParse("kl", out _));
    }
}
