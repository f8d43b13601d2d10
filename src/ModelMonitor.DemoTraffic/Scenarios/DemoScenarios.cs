namespace ModelMonitor.DemoTraffic.Scenarios;

/// <summary>
/// The three prediction services of the demo, modelled on a food-delivery marketplace (the seed's
/// DoorDash): delivery ETA with a shadow model, a fraud score, and a restaurant prep-time estimate.
/// </summary>
public static class DemoScenarios
{
    public const string EtaPredictor = "eta_prediction";
    public const string EtaPrimaryModel = "eta_v12";
    public const string EtaShadowModel = "eta_v13_shadow";
    public const string FraudPredictor = "fraud_score";
    public const string FraudModel = "fraud_gbm_2026_10";
    public const string PrepTimePredictor = "prep_time";
    public const string PrepTimeModel = "prep_time_v4";

    /// <summary>The prep-time feature that gets stuck on its default (incident "default stuck").</summary>
    public const string StuckDefaultFeature = "store_avg_prep_minutes_7d";

    /// <summary>The fraud feature that turns NaN (incident "NaN").</summary>
    public const string NaNFeature = "merchant_risk_ratio";
    public const string TypeMismatchFeature = "account_age_days";

    /// <summary>The ETA feature whose unit changes (incident "unit change") and the one that drifts gradually.</summary>
    public const string UnitChangeFeature = "distance_km";
    public const string GradualDriftFeature = "weather_temp_c";

    /// <summary>The markets the quality-drop incident's courier shortage hits: 54% of orders (by the mix below).</summary>
    public static IReadOnlyList<string> ShortageMarkets { get; } = ["san_francisco", "new_york", "los_angeles"];

    // A skewed market mix: a few big cities carry most orders, as in any marketplace.
    private static readonly (string, double)[] Markets =
    [
        ("san_francisco", 22), ("new_york", 18), ("los_angeles", 14), ("chicago", 10), ("houston", 8),
        ("seattle", 7), ("boston", 7), ("austin", 6), ("denver", 5), ("miami", 3),
    ];

    private static readonly (string, double)[] Platforms = [("ios", 50), ("android", 40), ("web", 10)];

    public static IReadOnlyList<PredictorScenario> All { get; } = [Eta(), Fraud(), PrepTime()];

    public static bool IsShortageMarket(string? market) => market is not null && ShortageMarkets.Contains(market);

    private static FeatureSpec Market() => FeatureSpec.Category("market", Markets, defaultValue: "unknown", defaultRate: 0.01);

    private static FeatureSpec Platform() => FeatureSpec.Category("platform", Platforms);

    private static PredictorScenario Eta() => new(
        EtaPredictor,
        EtaPrimaryModel,
        [EtaShadowModel],
        [
            Market(),
            Platform(),
            FeatureSpec.Flag("is_asap", 0.9),
            FeatureSpec.Flag("is_new_customer", 0.08),
            FeatureSpec.Flag("is_raining", 0.15),
            FeatureSpec.Numeric("distance_km", (r, _) => r.NextLogNormal(3.2, 0.6), 3.0, 0.02),
            FeatureSpec.Numeric("subtotal_usd", (r, _) => r.NextLogNormal(32, 0.55), 30, 0.01, 2),
            FeatureSpec.Count("item_count", (r, _) => 1 + r.NextPoisson(2.2), 2, 0.01),
            FeatureSpec.Numeric("store_busy_ratio", (r, h) => r.NextRatio(0.45 + (0.15 * h.Rhythm), 0.8), 0.5, 0.03),
            FeatureSpec.Count("dashers_nearby", (r, h) => r.NextPoisson(6 * (1 - (0.3 * h.Rhythm))), 5, 0.02),
            FeatureSpec.Count("orders_in_queue", (r, h) => r.NextPoisson(4 * (1 + (0.4 * h.Rhythm))), 3, 0.02),
            FeatureSpec.Numeric("store_avg_prep_minutes", (r, _) => Math.Max(2, r.NextNormal(14, 4)), 15, 0.02, 2),
            FeatureSpec.Numeric("historical_eta_minutes_p50", (r, _) => Math.Max(10, r.NextNormal(34, 6)), 35, 0.01, 2),
            FeatureSpec.Numeric("traffic_index", (r, h) => r.NextRatio(0.35 + (0.2 * h.Rhythm), 0.7), 0.3, 0.02),
            FeatureSpec.Numeric("weather_temp_c", (r, h) => r.NextNormal(18 + (4 * h.Rhythm), 7), 20, 0.03, 1),
            FeatureSpec.Numeric("dasher_wait_minutes", (r, _) => r.NextExponential(4), 0, 0.01, 2),
            FeatureSpec.Numeric("customer_tenure_days", (r, _) => Math.Round(r.NextLogNormal(200, 1.2)), 0, 0.02, 0),
            FeatureSpec.Numeric("store_rating", (r, _) => Math.Clamp(r.NextNormal(4.5, 0.3), 1, 5), 4.5, 0.01, 2),
            FeatureSpec.Numeric("last_mile_speed_kmh", (r, h) => Math.Max(3, r.NextNormal(22 - (4 * h.Rhythm), 5)), 20, 0.02, 2),
            FeatureSpec.Count("hour_of_day", (_, h) => h.HourOfDay, 12, 0.01),
        ],
        Predict: (f, r) =>
            Math.Max(8, 12 + (2.8 * f.Number("distance_km", 3)) + (0.9 * f.Number("store_avg_prep_minutes", 15))
                + (1.5 * f.Number("orders_in_queue", 3)) - (0.4 * f.Number("dashers_nearby", 5))
                + (6 * f.Number("traffic_index", 0.3)) + (4 * f.Number("is_raining")) + r.NextNormal(0, 3)),
        PredictShadow: (primary, f, r) => (primary * 0.97) + (0.3 * f.Number("store_busy_ratio", 0.5)) + r.NextNormal(0, 1),
        TrafficShare: 0.45,
        IdPrefix: "delivery");

    private static PredictorScenario Fraud() => new(
        FraudPredictor,
        FraudModel,
        [],
        [
            Market(),
            Platform(),
            FeatureSpec.Category("card_type", [("visa", 45), ("mastercard", 30), ("amex", 10), ("paypal", 8), ("apple_pay", 7)], "unknown", 0.01),
            FeatureSpec.Flag("is_new_customer", 0.1),
            FeatureSpec.Flag("ip_country_matches", 0.97),
            FeatureSpec.Numeric("order_amount_usd", (r, _) => r.NextLogNormal(45, 0.8), 40, 0.01, 2),
            FeatureSpec.Numeric(TypeMismatchFeature, (r, _) => Math.Round(r.NextLogNormal(300, 1.3)), 0, 0.02, 0),
            FeatureSpec.Count("orders_last_24h", (r, h) => r.NextPoisson(1.2 * (1 + (0.3 * h.Rhythm))), 0, 0.02),
            FeatureSpec.Count("orders_last_7d", (r, _) => r.NextPoisson(4), 0, 0.02),
            FeatureSpec.Count("distinct_cards_30d", (r, _) => 1 + r.NextPoisson(0.4), 1, 0.01),
            FeatureSpec.Count("failed_payments_7d", (r, _) => r.NextPoisson(0.15), 0, 0.01),
            FeatureSpec.Numeric(NaNFeature, (r, _) => r.NextRatio(0.08, 0.9), 0.05, 0.02, 4),
            FeatureSpec.Numeric("device_risk_ratio", (r, _) => r.NextRatio(0.1, 1.0), 0.1, 0.03, 4),
            FeatureSpec.Numeric("payment_velocity_ratio", (r, h) => r.NextRatio(0.2 + (0.05 * h.Rhythm), 0.8), 0.2, 0.02, 4),
            FeatureSpec.Numeric("email_domain_age_days", (r, _) => Math.Round(r.NextLogNormal(2000, 1.0)), 365, 0.02, 0),
            FeatureSpec.Numeric("billing_shipping_distance_km", (r, _) => r.NextLogNormal(2, 1.5), 0, 0.03),
            FeatureSpec.Numeric("promo_amount_usd", (r, _) => r.NextExponential(3), 0, 0.01, 2),
            FeatureSpec.Numeric("minutes_since_last_order", (r, _) => Math.Round(r.NextExponential(2880)), 10080, 0.02, 0),
        ],
        Predict: (f, r) =>
        {
            // A logistic score: risky merchants, devices, young accounts and failed payments raise it.
            var z = -3.2 + (6 * f.Number(NaNFeature, 0.05)) + (4 * f.Number("device_risk_ratio", 0.1))
                + (0.6 * f.Number("failed_payments_7d")) + (0.3 * f.Number("distinct_cards_30d", 1))
                - (0.15 * Math.Log(1 + f.Number("account_age_days"))) - (1.5 * f.Number("ip_country_matches", 1))
                + (0.004 * f.Number("order_amount_usd", 40)) + r.NextNormal(0, 0.4);
            return Math.Round(1 / (1 + Math.Exp(-z)), 5);
        },
        PredictShadow: (primary, _, _) => primary,
        TrafficShare: 0.35,
        IdPrefix: "order");

    private static PredictorScenario PrepTime() => new(
        PrepTimePredictor,
        PrepTimeModel,
        [],
        [
            Market(),
            Platform(),
            FeatureSpec.Category("cuisine", [("pizza", 20), ("burgers", 18), ("mexican", 14), ("chinese", 12), ("sushi", 9), ("indian", 8), ("thai", 7), ("salad", 12)], "unknown", 0.01),
            FeatureSpec.Flag("has_special_instructions", 0.2),
            FeatureSpec.Flag("is_catering", 0.01),
            FeatureSpec.Flag("is_new_customer", 0.08),
            FeatureSpec.Numeric(StuckDefaultFeature, (r, _) => Math.Max(3, r.NextNormal(14, 4)), 15, 0.02, 2),
            FeatureSpec.Count("item_count", (r, _) => 1 + r.NextPoisson(2.2), 2, 0.01),
            FeatureSpec.Count("drinks_count", (r, _) => r.NextPoisson(0.8), 0, 0.01),
            FeatureSpec.Numeric("subtotal_usd", (r, _) => r.NextLogNormal(32, 0.55), 30, 0.01, 2),
            FeatureSpec.Numeric("avg_item_price_usd", (r, _) => r.NextLogNormal(12, 0.4), 12, 0.02, 2),
            FeatureSpec.Count("orders_in_queue", (r, h) => r.NextPoisson(4 * (1 + (0.4 * h.Rhythm))), 3, 0.02),
            FeatureSpec.Numeric("kitchen_load_ratio", (r, h) => r.NextRatio(0.5 + (0.2 * h.Rhythm), 0.7), 0.5, 0.03, 4),
            FeatureSpec.Count("staff_on_shift", (r, h) => 1 + r.NextPoisson(4 * (1 + (0.2 * h.Rhythm))), 4, 0.02),
            FeatureSpec.Numeric("menu_item_complexity", (r, _) => Math.Max(0.5, r.NextNormal(2.5, 0.8)), 2.5, 0.01, 2),
            FeatureSpec.Numeric("minutes_since_store_open", (r, _) => Math.Round(r.NextExponential(240)), 240, 0.02, 0),
            FeatureSpec.Numeric("store_rating", (r, _) => Math.Clamp(r.NextNormal(4.5, 0.3), 1, 5), 4.5, 0.01, 2),
        ],
        Predict: (f, r) =>
            Math.Max(3, (0.7 * f.Number(StuckDefaultFeature, 15)) + (1.1 * f.Number("item_count", 2))
                + (1.2 * f.Number("orders_in_queue", 3)) + (6 * f.Number("kitchen_load_ratio", 0.5))
                - (0.5 * f.Number("staff_on_shift", 4)) + (1.5 * f.Number("menu_item_complexity", 2.5))
                + (8 * f.Number("is_catering")) + r.NextNormal(0, 2)),
        PredictShadow: (primary, _, _) => primary,
        TrafficShare: 0.20,
        IdPrefix: "order");
}
