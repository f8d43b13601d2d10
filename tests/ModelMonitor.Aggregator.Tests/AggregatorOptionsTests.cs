using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace ModelMonitor.Aggregator.Tests;

public sealed class AggregatorOptionsTests
{
    [Fact]
    public void The_defaults_are_valid() =>
        Assert.True(new AggregatorOptionsValidator().Validate(null, new AggregatorOptions()).Succeeded);

    [Fact]
    public void Wrong_settings_fail_with_a_message_naming_the_key()
    {
        var options = new AggregatorOptions
        {
            Windows = "5x",
            FlushInterval = TimeSpan.Zero,
            ConsumerGroup = " ",
            Retention = new() { ["5m"] = "1m", ["1h"] = "forever" },
        };
        var result = new AggregatorOptionsValidator().Validate(null, options);
        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.StartsWith("Aggregator:Windows", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.StartsWith("Aggregator:FlushInterval", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.StartsWith("Aggregator:ConsumerGroup", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.StartsWith("Aggregator:Retention:5m", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.StartsWith("Aggregator:Retention:1h", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_host_with_an_invalid_setting_refuses_to_start()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Testing" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Port=1",
            ["Kafka:BootstrapServers"] = "127.0.0.1:1",
            ["Aggregator:Windows"] = "fortnightly",
        });
        builder.AddAggregator();
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("Aggregator:Windows", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Binding_reads_the_retention_map_and_extra_consumer_properties()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Testing" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Aggregator:Retention:30s"] = "2d",
            ["Aggregator:Consumer:session.timeout.ms"] = "6000",
        });
        builder.AddAggregator();
        using var host = builder.Build();
        var options = host.Services.GetRequiredService<IOptions<AggregatorOptions>>().Value;
        Assert.Equal(TimeSpan.FromDays(2), options.ParsedRetention.Single(r => r.Window.Seconds == 30).Keep);
        Assert.Equal("6000", options.Consumer["session.timeout.ms"]);
    }
}
