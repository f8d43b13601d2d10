namespace ModelMonitor.References.Upload;

/// <summary>One string per distinct category of a column, looked up by span: a column of a few categories over millions
/// of rows allocates a few strings, not one per cell. Bounded: past <see cref="Capacity"/> distinct values new ones are
/// allocated without being kept (an id-like column).</summary>
internal sealed class CategoryStrings
{
    private const int Capacity = 10_000;
    private readonly HashSet<string> _strings = new(StringComparer.Ordinal);
    private readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public CategoryStrings() => _lookup = _strings.GetAlternateLookup<ReadOnlySpan<char>>();

    public string Get(ReadOnlySpan<char> text)
    {
        if (_lookup.TryGetValue(text, out var known))
        {
            return known;
        }

        var created = text.ToString();
        if (_strings.Count < Capacity)
        {
            _strings.Add(created);
        }

        return created;
    }
}
