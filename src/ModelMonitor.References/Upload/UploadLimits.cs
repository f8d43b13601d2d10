namespace ModelMonitor.References.Upload;

/// <summary>What one upload may hold (from <see cref="ReferenceOptions"/>).</summary>
public sealed record UploadLimits(long MaxRows, int MaxColumns, int MaxStringLength)
{
    public static UploadLimits From(ReferenceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new UploadLimits(options.MaxUploadRows, options.MaxColumns, options.MaxStringLength);
    }

    /// <summary>Throws the 413 for one row past <see cref="MaxRows"/>.</summary>
    public void CheckRows(long rows, long line)
    {
        if (rows > MaxRows)
        {
            throw new ReferenceUploadException($"the upload has more than {MaxRows:N0} rows (References:MaxUploadRows)", line, status: 413);
        }
    }
}
