namespace ModelMonitor.References.Upload;

/// <summary>An upload that cannot become a reference: what is wrong and where (1-based line, or record for NDJSON, and
/// column), answered with <see cref="Status"/> (400, or 413 past a limit). The previous reference stays as it was.</summary>
public sealed class ReferenceUploadException(string message, long? line = null, string? column = null, int status = 400)
    : Exception(message)
{
    public long? Line => line;

    public string? Column => column;

    public int Status => status;

    /// <summary>The message with its place: "line 7, column "age": …".</summary>
    public string Detail =>
        (line, column) switch
        {
            ({ } l, { } c) => $"line {l}, column \"{c}\": {Message}",
            ({ } l, null) => $"line {l}: {Message}",
            (null, { } c) => $"column \"{c}\": {Message}",
            _ => Message,
        };
}
