using ModelMonitor.Core.Contracts;

namespace ModelMonitor.Aggregator.Tests;

/// <summary>A seeded, varied data set: several predictors, models, hours; numeric, categorical, null, NaN, defaults.</summary>
internal static class TestData
{
    public static readonly string[] Markets = ["paris", "berlin", "tokyo", "lima", "oslo"];

    /// <summary>The hour that starts two hours before now, so every record is within the allowed lateness.</summary>
    public static DateTimeOffset BaseHour()
    {
        var now = DateTimeOffset.UtcNow.AddHours(-2);
        return new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, 0, 0, TimeSpan.Zero);
    }

    public static List<PredictionLog> Generate(int count, int seed, DateTimeOffset baseHour)
    {
        var random = new Random(seed);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        var logs = new List<PredictionLog>(count);
        for (var i = 0; i < count; i++)
        {
            var predictor = random.Next(3) == 0 ? "fraud" : "eta";
            var model = predictor + "_v" + (1 + random.Next(2));
            // Spread over two hours, with records exactly on window boundaries too.
            var sentAt = i % 50 == 0
                ? baseHour.AddMinutes(5 * random.Next(24))
                : baseHour.AddMilliseconds(random.NextDouble() * 2 * 3_600_000);
            var features = new List<KeyValuePair<string, FeatureValue>>
            {
                new("distance_km", FeatureValue.FromNumber(Math.Round(3 + (2 * Normal()), 3))),
                new("market", FeatureValue.FromString(Markets[Math.Min(random.Next(6), 4)])),
                new("is_new_user", FeatureValue.FromBoolean(random.Next(4) == 0)),
            };
            var amount = random.Next(20) switch
            {
                0 => FeatureValue.Null,
                1 => FeatureValue.FromNumber(double.NaN),
                2 => FeatureValue.FromNumber(double.PositiveInfinity),
                3 => (FeatureValue?)null, // absent
                _ => FeatureValue.FromNumber(Math.Exp(2 + Normal())),
            };
            if (amount is { } a)
            {
                features.Add(new("amount", a));
            }

            if (random.Next(10) == 0)
            {
                features.Add(new("temperature", FeatureValue.FromNumber(-10 - (5 * random.NextDouble()))));
            }

            var defaults = new List<string>();
            if (random.Next(8) == 0)
            {
                defaults.Add("distance_km");
            }

            if (random.Next(16) == 0)
            {
                defaults.Add("ghost_feature"); // named as defaulted but absent from features
            }

            var result = random.Next(40) == 0 ? double.NaN : Math.Round(10 + (3 * Normal()), 4);
            logs.Add(new PredictionLog(sentAt, "p-" + i, predictor, model, features, result, defaults));
        }

        return logs;
    }
}
