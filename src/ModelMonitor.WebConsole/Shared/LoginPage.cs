namespace ModelMonitor.WebConsole.Shared;

/// <summary>The sign-in page of a console behind Metrics:RequireToken: one password field for the token, posted (never in a
/// URL, so never in a proxy's log); the answer is a session cookie (HttpOnly, SameSite=Strict) that is not the token.</summary>
public static class LoginPage
{
    public static string Render(string returnPath, bool failed, bool required, DateTimeOffset now)
    {
        var body = required
            ? $"""
              <h1>Sign in</h1>
              <p>This console is protected by the metrics token (<code>Metrics:RequireToken</code>): the value of <code>Metrics:Token</code> or of the file <code>Metrics:TokenFile</code>.</p>
              {(failed ? "<p class=\"problem\" role=\"alert\">⚠ That is not the token.</p>" : "")}
              <form method="post" action="/login">
              <input type="hidden" name="return" value="{Html.Encode(returnPath)}">
              <p><label for="token">Metrics token</label><br><input id="token" name="token" type="password" autocomplete="current-password" required size="40" autofocus></p>
              <p><button type="submit">Sign in</button></p>
              </form>
              """
            : $"<h1>No sign-in needed</h1><p>This console is open (<code>Metrics:RequireToken</code> is off).</p><p><a href=\"{Html.Encode(returnPath)}\">Continue</a></p>";
        return Layout.Page("Sign in", [("Sign in", null)], body, now);
    }
}
