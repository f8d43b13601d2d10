using System.Text.Json;

namespace ModelMonitor.DemoTraffic.Sending;

/// <summary>The per-record errors of a response body: {"accepted":N,"rejected":M,"errors":[{"index":i,...,"retryable":bool}]}.</summary>
internal sealed record ResponseOutcome(HashSet<int> Retryable, HashSet<int> Rejected, string? FirstMessage)
{
    public static ResponseOutcome Parse(byte[] body, int count)
    {
        var retryable = new HashSet<int>();
        var rejected = new HashSet<int>();
        string? firstMessage = null;
        if (body.Length == 0)
        {
            return new(retryable, rejected, null);
        }

        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("errors", out var errors)
                && errors.ValueKind == JsonValueKind.Array)
            {
                foreach (var error in errors.EnumerateArray())
                {
                    var message = Describe(error);
                    firstMessage ??= message;
                    if (!error.TryGetProperty("index", out var indexElement) || !indexElement.TryGetInt32(out var index) || index < 0 || index >= count)
                    {
                        continue;
                    }

                    if (error.TryGetProperty("retryable", out var retry) && retry.ValueKind == JsonValueKind.True)
                    {
                        retryable.Add(index);
                    }
                    else
                    {
                        rejected.Add(index);
                    }
                }
            }
            else if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("detail", out var detail))
            {
                firstMessage = detail.ToString();
            }
        }
        catch (JsonException)
        {
            firstMessage = "unreadable response body";
        }

        // A record that is both retryable (one field) and rejected (another) is rejected.
        retryable.ExceptWith(rejected);
        return new(retryable, rejected, firstMessage);
    }

    private static string Describe(JsonElement error)
    {
        var field = error.TryGetProperty("field", out var f) ? f.ToString() : "?";
        var message = error.TryGetProperty("message", out var m) ? m.ToString() : "";
        return $"{field}: {message}";
    }
}
