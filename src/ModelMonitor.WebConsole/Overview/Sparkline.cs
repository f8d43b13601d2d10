using System.Globalization;
using System.Text;

using ModelMonitor.WebConsole.Shared;

namespace ModelMonitor.WebConsole.Overview;

/// <summary>
/// A sparkline as inline SVG: one polyline point per value, x evenly spaced, y scaled to the largest value (0 at the
/// bottom). Server-rendered: no script, no library, readable with the page's CSS off; the values are also in its title.
/// </summary>
public static class Sparkline
{
    public const int Width = 160;
    public const int Height = 28;

    public static string Svg(IReadOnlyList<long> values, string label)
    {
        var max = values.Count == 0 ? 0 : values.Max();
        var step = values.Count > 1 ? (double)Width / (values.Count - 1) : 0;
        var points = new StringBuilder();
        for (var i = 0; i < values.Count; i++)
        {
            var y = max == 0 ? Height - 1 : Height - 1 - (values[i] * (Height - 2.0) / max);
            points.Append(CultureInfo.InvariantCulture, $"{(i > 0 ? " " : "")}{i * step:0.#},{y:0.#}");
        }
        return string.Create(CultureInfo.InvariantCulture,
            $"<svg class=\"spark\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" role=\"img\" aria-label=\"{Html.Encode(label)}\"><title>{Html.Encode(label)}</title><polyline fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.5\" points=\"{points}\"/></svg>");
    }
}
