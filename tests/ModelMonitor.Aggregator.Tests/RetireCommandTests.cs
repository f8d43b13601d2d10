using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using ModelMonitor.Aggregator.Retirement;
using ModelMonitor.Storage;
using ModelMonitor.Testing.Postgres;

namespace ModelMonitor.Aggregator.Tests;

/// <summary>The operator's retire / unretire / retired subcommands against the real Postgres.</summary>
public sealed class RetireCommandTests
{
    private static async Task<(int Code, string Output, string Error)> Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await RetireCommand.RunAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Retire_lists_and_unretire_a_predictor_and_a_model()
    {
        await using var database = await PostgresDatabaseFixture.CreateAsync("retire");
        await database.MigrateAsync();
        var cs = database.ConnectionString;

        var (code, output, _) = await Run("retire", "--predictor", "my_test", "--reason", "tried it out", "--connection-string", cs);
        Assert.Equal(0, code);
        Assert.StartsWith("retired predictor my_test (every model) at ", output, StringComparison.Ordinal);
        Assert.Equal(0, (await Run("retire", "--predictor", "eta", "--model", "eta_v1", "--connection-string", cs)).Code);

        var (_, list, _) = await Run("retired", "--connection-string", cs);
        var lines = list.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("eta\teta_v1\t", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("my_test\t*\t", lines[1], StringComparison.Ordinal);
        Assert.EndsWith("\ttried it out", lines[1].TrimEnd('\r'), StringComparison.Ordinal);

        Assert.Contains("unretired predictor my_test", (await Run("unretire", "--predictor", "my_test", "--connection-string", cs)).Output, StringComparison.Ordinal);
        Assert.Contains("was not retired", (await Run("unretire", "--predictor", "my_test", "--connection-string", cs)).Output, StringComparison.Ordinal);
        await using var connection = await database.DataSource.OpenConnectionAsync();
        Assert.Equal(["eta/eta_v1"], await connection.QueryAsync<string>("SELECT predictor_name || '/' || model_id FROM retired_models"));
    }

    [Theory]
    [InlineData("retire")]
    [InlineData("retire --model m")]
    [InlineData("retire --predictor")]
    [InlineData("retire --predictor p --colour blue")]
    public async Task Bad_usage_exits_2_with_the_usage(string line)
    {
        var (code, _, error) = await Run([.. line.Split(' '), "--connection-string", "Host=127.0.0.1"]);

        Assert.Equal(2, code);
        Assert.Contains("usage: retire", error, StringComparison.Ordinal);
    }
}
