using System.Text.Json;
using ModelMonitor.Core.Predictors;

namespace ModelMonitor.Core.Tests.Predictors;

/// <summary>Registry bodies: every field validated and named in its error; durations; roles.</summary>
public class PredictorRegistryTests
{
    private static (PredictorRegistration? Registration, List<RegistryFault> Faults) Predictor(string json)
    {
        var faults = new List<RegistryFault>();
        using var document = JsonDocument.Parse(json);
        return (PredictorRegistry.ReadPredictor(document.RootElement, maxModels: 5, faults), faults);
    }

    private static (ModelRegistration? Registration, List<RegistryFault> Faults) Model(string json)
    {
        var faults = new List<RegistryFault>();
        using var document = JsonDocument.Parse(json);
        return (PredictorRegistry.ReadModel(document.RootElement, faults), faults);
    }

    [Fact]
    public void A_full_registration_is_read()
    {
        var (registration, faults) = Predictor("""
            {"primary_model_id": "eta_v12", "shadow_model_ids": ["eta_v13", "eta_v14"], "team": "logistics",
             "labels": {"tier": "1"}, "max_model_age": "30d", "retired": false}
            """);
        Assert.Empty(faults);
        Assert.Equal("eta_v12", registration!.PrimaryModelId);
        Assert.Equal(["eta_v13", "eta_v14"], registration.ShadowModelIds);
        Assert.Equal(TimeSpan.FromDays(30), registration.MaxModelAge);
        Assert.Equal("1", registration.Labels["tier"]);
        Assert.False(registration.Retired);
        Assert.Null(Predictor("{}").Registration!.Retired);
    }

    [Theory]
    [InlineData("""{"primary_model_id": "a", "shadow_model_ids": ["a"]}""", "shadow_model_ids[0]", "either the primary or a shadow")]
    [InlineData("""{"shadow_model_ids": ["a", "b", "c", "d", "e"]}""", "shadow_model_ids", "at most 4 shadows")]
    [InlineData("""{"shadow_model_ids": ["a", "a"]}""", "shadow_model_ids[1]", "listed twice")]
    [InlineData("""{"shadow_model_ids": [1]}""", "shadow_model_ids[0]", "a string")]
    [InlineData("""{"primary": "a"}""", "primary", "unknown field")]
    [InlineData("""{"max_model_age": "30 days"}""", "max_model_age", "a duration")]
    [InlineData("""{"max_model_age": "0d"}""", "max_model_age", "a duration")]
    [InlineData("""{"max_model_age": 30}""", "max_model_age", "a duration")]
    [InlineData("""{"primary_model_id": ""}""", "primary_model_id", "1 to 200 characters")]
    [InlineData("""{"primary_model_id": "a\u0001b"}""", "primary_model_id", "control characters")]
    [InlineData("""{"labels": {"tier": 1}}""", "labels.tier", "a string")]
    [InlineData("""{"retired": "yes"}""", "retired", "true or false")]
    [InlineData("""[]""", "$", "JSON object")]
    public void Bad_input_names_the_field(string json, string field, string message)
    {
        var (registration, faults) = Predictor(json);
        Assert.Null(registration);
        var fault = Assert.Single(faults, f => f.Field == field);
        Assert.Contains(message, fault.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_registration_is_read_and_checked()
    {
        var (model, faults) = Model("""{"trained_at": "2026-11-20T08:00:00+01:00", "training_data_end": "2026-11-19T00:00:00Z", "version_info": {"git": "3f2a1c9"}}""");
        Assert.Empty(faults);
        Assert.Equal(new DateTimeOffset(2026, 11, 20, 7, 0, 0, TimeSpan.Zero), model!.TrainedAt);
        Assert.Equal("""{"git": "3f2a1c9"}""", model.VersionInfo);

        Assert.Equal("trained_at", Assert.Single(Model("""{"trained_at": "2026-11-20T08:00:00"}""").Faults).Field); // no zone
        Assert.Equal("training_data_end", Assert.Single(Model("""{"trained_at": "2026-11-20T00:00:00Z", "training_data_end": "2026-11-21T00:00:00Z"}""").Faults).Field);
        Assert.Equal("version_info", Assert.Single(Model("""{"version_info": "v1"}""").Faults).Field);
        Assert.Equal("trained", Assert.Single(Model("""{"trained": "2026-11-20T00:00:00Z"}""").Faults).Field);
    }

    [Theory]
    [InlineData("30d", 30 * 86_400L, "30d")]
    [InlineData("2w", 14 * 86_400L, "2w")]
    [InlineData("36h", 36 * 3_600L, "36h")]
    [InlineData("90m", 90 * 60L, "90m")]
    [InlineData("45s", 45L, "45s")]
    public void Durations_read_and_format(string text, long seconds, string formatted)
    {
        Assert.True(Durations.TryParse(text, out var duration));
        Assert.Equal(seconds, (long)duration.TotalSeconds);
        Assert.Equal(formatted, Durations.Format(duration));
    }

    [Theory]
    [InlineData("")]
    [InlineData("d")]
    [InlineData("-1d")]
    [InlineData("1y")]
    [InlineData("99999d")]
    public void Bad_durations_are_refused(string text) => Assert.False(Durations.TryParse(text, out _));

    [Fact]
    public void Roles_registered_inferred_and_sticky()
    {
        var traffic = new Dictionary<string, long> { ["v1"] = 100, ["v2"] = 110, ["v3"] = 5 };
        Assert.Equal(("v9", true), ModelRoles.PrimaryOf("v9", null, traffic)); // registered wins
        Assert.Equal(("v2", false), ModelRoles.PrimaryOf(null, null, traffic)); // the busiest
        Assert.Equal(("v1", false), ModelRoles.PrimaryOf(null, "v1", traffic)); // 110 < 1.2 × 100: v1 stays
        traffic["v2"] = 121;
        Assert.Equal(("v2", false), ModelRoles.PrimaryOf(null, "v1", traffic)); // 121 ≥ 120: v2 takes over
        Assert.Equal(("v1", false), ModelRoles.PrimaryOf(null, "v1", new Dictionary<string, long>())); // no traffic: unchanged
        Assert.Null(ModelRoles.PrimaryOf(null, null, new Dictionary<string, long>()));

        Assert.Equal(ModelRole.Primary, ModelRoles.RoleOf("v1", ("v1", true), ["v2"]));
        Assert.Equal(ModelRole.Shadow, ModelRoles.RoleOf("v2", ("v1", true), ["v2"]));
        Assert.Equal(ModelRole.Candidate, ModelRoles.RoleOf("v3", ("v1", true), ["v2"]));
        Assert.Equal(ModelRole.InferredPrimary, ModelRoles.RoleOf("v1", ("v1", false), []));
        Assert.Equal(ModelRole.Candidate, ModelRoles.RoleOf("v2", ("v1", false), []));
    }
}
