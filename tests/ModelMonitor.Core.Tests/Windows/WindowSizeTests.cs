using ModelMonitor.Core.Windows;

namespace ModelMonitor.Core.Tests.Windows;

public sealed class WindowSizeTests
{
    [Theory]
    [InlineData("30s", 30, "30s")]
    [InlineData("5m", 300, "5m")]
    [InlineData("1h", 3_600, "1h")]
    [InlineData("1d", 86_400, "1d")]
    [InlineData("60m", 3_600, "1h")]
    [InlineData("90m", 5_400, "90m")]
    [InlineData("3600s", 3_600, "1h")]
    [InlineData(" 2H ", 7_200, "2h")]
    public void Sizes_parse_and_format_back_to_the_shortest_label(string text, int seconds, string label)
    {
        var size = WindowSize.Parse(text);
        Assert.Equal(seconds, size.Seconds);
        Assert.Equal(label, size.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("m")]
    [InlineData("0m")]
    [InlineData("-5m")]
    [InlineData("5w")]
    [InlineData("1.5h")]
    [InlineData("400d")]
    public void Invalid_sizes_are_refused_with_a_message(string text)
    {
        Assert.False(WindowSize.TryParse(text, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
        Assert.Throws<FormatException>(() => WindowSize.Parse(text));
    }

    [Fact]
    public void A_list_is_parsed_deduplicated_and_sorted() =>
        Assert.Equal([WindowSize.Parse("5m"), WindowSize.Parse("1h")], WindowSize.ParseList("1h, 5m,300s"));

    [Fact]
    public void Aggregator_rolls_over_when_the_hour_changes()
    {
        var hour = WindowSize.Parse("1h");
        var last = new DateTimeOffset(2026, 3, 1, 10, 59, 59, 999, TimeSpan.Zero).AddTicks(9_999);
        Assert.Equal(new DateTimeOffset(2026, 3, 1, 10, 0, 0, TimeSpan.Zero), hour.WindowStart(last));
        Assert.Equal(new DateTimeOffset(2026, 3, 1, 11, 0, 0, TimeSpan.Zero), hour.WindowStart(last.AddTicks(1)));
    }

    [Fact]
    public void Windows_are_aligned_to_the_epoch_in_utc_whatever_the_offset()
    {
        var fiveMinutes = WindowSize.Parse("5m");
        var local = new DateTimeOffset(2026, 3, 1, 12, 7, 30, TimeSpan.FromHours(5.5));
        var start = fiveMinutes.WindowStart(local);
        Assert.Equal(TimeSpan.Zero, start.Offset);
        Assert.Equal(new DateTimeOffset(2026, 3, 1, 6, 35, 0, TimeSpan.Zero), start);
        Assert.Equal(0, start.ToUnixTimeSeconds() % 300);
    }

    [Fact]
    public void A_window_start_is_its_own_window()
    {
        var day = WindowSize.Parse("1d");
        var midnight = new DateTimeOffset(2026, 3, 2, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal(midnight, day.WindowStart(midnight));
        Assert.Equal(midnight.AddDays(-1), day.WindowStart(midnight.AddTicks(-1)));
    }

    [Fact]
    public void Instants_before_the_epoch_use_floor_division() =>
        Assert.Equal(
            new DateTimeOffset(1969, 12, 31, 23, 0, 0, TimeSpan.Zero),
            WindowSize.Parse("1h").WindowStart(new DateTimeOffset(1969, 12, 31, 23, 30, 0, TimeSpan.Zero)));
}
