using Npgsql;

namespace ModelMonitor.Storage;

/// <summary>Conversions the stores share between Postgres values and ours.</summary>
public static class PostgresValues
{
    /// <summary>A timestamptz as Npgsql reads it (a DateTime of unspecified kind, in UTC) as a UTC DateTimeOffset.</summary>
    public static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));

    /// <summary>A double precision parameter: the value when finite, else NULL (undefined statistics are stored as NULL).</summary>
    public static NpgsqlParameter FiniteOrNull(double? value) =>
        new() { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Double, Value = value is { } v && double.IsFinite(v) ? v : DBNull.Value };
}
