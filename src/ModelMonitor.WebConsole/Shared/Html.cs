using System.Globalization;
using System.Text.Encodings.Web;

namespace ModelMonitor.WebConsole.Shared;

/// <summary>HTML and URL escaping of any text (predictor, model and feature names are any text).</summary>
public static class Html
{
    // Every script's letters pass as they are (HtmlEncoder.Default would write any non-ASCII name as entities); markup
    // characters, quotes and controls are always encoded.
    private static readonly HtmlEncoder Encoder = HtmlEncoder.Create(System.Text.Unicode.UnicodeRanges.All);

    public static string Encode(string text) => Encoder.Encode(text);

    /// <summary>A query string of the given pairs, each value escaped (nulls left out), e.g. <c>?predictor=a%2Fb&amp;model=m</c>,
    /// already HTML-encoded for an attribute.</summary>
    public static string Query(params (string Name, string? Value)[] pairs) =>
        Encode("?" + string.Join('&', pairs.Where(p => p.Value is not null).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}")));

    public static string Number(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
