using ModelMonitor.Core.Security;

namespace ModelMonitor.Core.Tests.Security;

public sealed class ApiKeyTokenTests
{
    [Fact]
    public void A_new_key_reads_back_as_itself_and_keys_differ()
    {
        var a = ApiKeyToken.New();
        var b = ApiKeyToken.New();
        Assert.NotEqual(a.KeyId, b.KeyId);
        Assert.NotEqual(a.Secret, b.Secret);
        var text = a.ToString();
        Assert.StartsWith("mmk_", text, StringComparison.Ordinal);
        Assert.Equal(ApiKeyToken.Length, text.Length);
        Assert.True(ApiKeyToken.TryParse(text, out var read));
        Assert.Equal(a, read);
        Assert.True(ApiKeyToken.IsValidId(a.KeyId));
    }

    [Theory]
    [InlineData("")]
    [InlineData("mmk_")]
    [InlineData("Bearer mmk_abcdefghijkl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("xxx_abcdefghijkl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")] // prefix
    [InlineData("mmk_ABCDEFGHIJKL_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")] // upper-case id
    [InlineData("mmk_abc\"\r\nX: y_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")] // header injection in the id
    [InlineData("mmk_abcdefghijkl-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")] // separator
    [InlineData("mmk_abcdefghijkl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")] // padding is not base64url here
    [InlineData("mmk_abcdefghijkl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")] // one character too many
    [InlineData("mmk_abcdefghijkl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+A")] // not base64url
    public void Anything_but_the_exact_format_is_not_a_key(string text) => Assert.False(ApiKeyToken.TryParse(text, out _));

    [Theory]
    [InlineData("abcdefghijkl", true)]
    [InlineData("abc", false)]
    [InlineData("abcdefghijk\n", false)]
    [InlineData("abcdefghijk ", false)]
    [InlineData(null, false)]
    public void Key_ids_are_twelve_lower_case_letters_or_digits(string? id, bool valid) => Assert.Equal(valid, ApiKeyToken.IsValidId(id));
}

public sealed class ApiKeyHashTests
{
    [Fact]
    public void A_hash_verifies_its_secret_only_and_never_holds_it()
    {
        var token = ApiKeyToken.New();
        var hash = ApiKeyHash.Create(token.Secret);
        Assert.DoesNotContain(token.Secret, hash, StringComparison.Ordinal);
        Assert.StartsWith("sha256$", hash, StringComparison.Ordinal);
        Assert.True(ApiKeyHash.Verify(token.Secret, hash));
        Assert.False(ApiKeyHash.Verify(ApiKeyToken.New().Secret, hash));
        Assert.False(ApiKeyHash.Verify(token.Secret[..^1] + (token.Secret[^1] == 'A' ? 'B' : 'A'), hash)); // last character differs
        // Salted: the same secret hashes differently each time, and both verify.
        var again = ApiKeyHash.Create(token.Secret);
        Assert.NotEqual(hash, again);
        Assert.True(ApiKeyHash.Verify(token.Secret, again));
    }

    [Theory]
    [InlineData("")]
    [InlineData("plain")]
    [InlineData("md5$AAAA$AAAA")]
    [InlineData("sha256$!!!$AAAA")]
    [InlineData("sha256$AAAA")]
    public void A_stored_hash_in_another_format_never_verifies(string stored) => Assert.False(ApiKeyHash.Verify("secret", stored));

    /// <summary>The comparer's contract (its constant time comes from hashing both sides to 32 bytes and
    /// CryptographicOperations.FixedTimeEquals, which is not a thing a unit test can time): equal only when equal, whatever
    /// the lengths and wherever they differ.</summary>
    [Theory]
    [InlineData("token", "token", true)]
    [InlineData("token", "tokem", false)] // last character
    [InlineData("token", "xoken", false)] // first character
    [InlineData("token", "token2", false)] // a prefix
    [InlineData("", "token", false)]
    [InlineData("", "", true)]
    [InlineData("ünïcødé", "ünïcødé", true)]
    public void The_constant_time_comparer_says_equal_only_for_equal_strings(string presented, string expected, bool equal) =>
        Assert.Equal(equal, ApiKeyHash.FixedTimeEquals(presented, expected));
}

public sealed class PredictorPatternsTests
{
    [Theory]
    [InlineData("eta_*", "eta_prediction", true)]
    [InlineData("eta_*", "eta_", true)]
    [InlineData("eta_*", "eta", false)]
    [InlineData("eta_*", "x_eta_prediction", false)]
    [InlineData("*_shadow", "eta_shadow", true)]
    [InlineData("eta_?", "eta_1", true)]
    [InlineData("eta_?", "eta_12", false)]
    [InlineData("a*b*c", "axxbyyc", true)]
    [InlineData("a*b*c", "axxbyy", false)]
    [InlineData("ETA_*", "eta_x", false)] // case-sensitive, as predictor names are
    [InlineData("fraud", "fraud", true)]
    [InlineData("fraud", "fraud_score", false)]
    [InlineData("*", "", true)]
    public void A_pattern_matches_the_whole_name(string pattern, string name, bool matches) =>
        Assert.Equal(matches, new PredictorPatterns([pattern]).Allows(name));

    [Fact]
    public void Any_pattern_of_a_list_allows_and_star_allows_everything()
    {
        var patterns = PredictorPatterns.Parse("eta_*, fraud_score", out var error);
        Assert.Null(error);
        Assert.True(patterns.Allows("eta_x"));
        Assert.True(patterns.Allows("fraud_score"));
        Assert.False(patterns.Allows("churn"));
        Assert.True(PredictorPatterns.Any.Allows("anything at all"));
        Assert.True(PredictorPatterns.Any.AllowsAll);
    }

    [Fact]
    public void A_pathological_pattern_is_matched_in_linear_steps_not_exponential_ones()
    {
        // The backtracking a naive recursive matcher does on a*a*a*…b against a long run of a's is exponential; this walk is
        // O(pattern × name): a million-step bound would be exceeded long before.
        var pattern = string.Concat(Enumerable.Repeat("a*", 50)) + "b";
        var name = new string('a', 200);
        Assert.False(PredictorPatterns.Matches(pattern, name));
        Assert.True(PredictorPatterns.Matches(pattern, name + "b"));
    }

    [Theory]
    [InlineData("", "at least one predictor pattern")]
    [InlineData(" , ", "at least one predictor pattern")]
    [InlineData("eta\u0001*", "control character")]
    public void Bad_pattern_lists_are_named(string text, string problem)
    {
        PredictorPatterns.Parse(text, out var error);
        Assert.Contains(problem, error, StringComparison.Ordinal);
    }
}

public sealed class ApiScopesTests
{
    [Fact]
    public void Scopes_parse_from_a_comma_list_and_unknown_ones_are_named()
    {
        Assert.Equal(["write:predictions", "admin"], ApiScopes.Parse("write:predictions, admin,admin", out var error));
        Assert.Null(error);
        ApiScopes.Parse("write:predictions,read:everything", out error);
        Assert.Contains("unknown scope 'read:everything'", error, StringComparison.Ordinal);
        ApiScopes.Parse("", out error);
        Assert.Contains("at least one scope", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_is_unusable_once_revoked_or_expired()
    {
        var now = new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
        var key = new ApiKey("abcdefghijkl", "k", "sha256$x$y", [ApiScopes.Admin], PredictorPatterns.Any, now.AddDays(-1), null, null, null);
        Assert.Null(key.Unusable(now));
        Assert.Equal("expired", (key with { ExpiresAt = now }).Unusable(now));
        Assert.Null((key with { ExpiresAt = now.AddSeconds(1) }).Unusable(now));
        Assert.Equal("revoked", (key with { RevokedAt = now.AddMinutes(-1), ExpiresAt = now.AddMinutes(-1) }).Unusable(now));
        Assert.True(key.HasScope(ApiScopes.Admin));
        Assert.False(key.HasScope(ApiScopes.WritePredictions));
    }
}
