using System.Buffers;
using System.Net;
using System.Net.Http.Headers;

namespace ModelMonitor.DemoTraffic.Sending;

/// <summary>
/// Posts batches of records to one endpoint of the ingestion API and sees each record through to acknowledged, rejected
/// or given up. 429/503: waits Retry-After and resends the whole batch (nothing of it was stored). 202 with errors:
/// records marked retryable are resent on their own, the rest are never sent again. 413: the batch is split in halves.
/// Connection errors, timeouts and other 5xx: resent with exponential backoff (such a resend can duplicate a record if
/// the server stored it and then failed to answer). <see cref="PredictionSender"/> and <see cref="OutcomeSender"/>.
/// </summary>
public abstract class RecordSender<TRecord>
{
    private readonly HttpClient _http;
    private readonly Uri _endpoint;
    private readonly PayloadFormat _format;
    private readonly TrafficCounters _counters;
    private readonly SenderPolicy _policy;
    private readonly MediaTypeHeaderValue _contentType;
    private readonly int _bytesPerRecord;

    protected RecordSender(HttpClient http, Uri endpoint, PayloadFormat format, TrafficCounters counters, SenderPolicy policy, int bytesPerRecord)
    {
        _http = http;
        _endpoint = endpoint;
        _format = format;
        _counters = counters;
        _policy = policy;
        _bytesPerRecord = bytesPerRecord;
        _contentType = new MediaTypeHeaderValue(PredictionPayloadWriter.ContentType(format));
    }

    public Uri Endpoint => _endpoint;

    /// <summary>Writes <paramref name="records"/> as a request body.</summary>
    protected abstract void Write(IReadOnlyList<TRecord> records, PayloadFormat format, IBufferWriter<byte> output);

    /// <summary>Called with each response's records and which of them it acknowledged (the ledger).</summary>
    protected virtual void OnAcknowledged(IReadOnlyList<TRecord> records, Func<int, bool> acknowledged)
    {
    }

    /// <summary>
    /// Sends <paramref name="batch"/> until every record is settled. <paramref name="stopping"/> ends waits
    /// between attempts (the records still pending count as given up); <paramref name="aborting"/> also
    /// cancels a request in flight.
    /// </summary>
    public async Task SendAsync(IReadOnlyList<TRecord> batch, CancellationToken stopping, CancellationToken aborting)
    {
        _counters.AddSent(batch.Count);
        var pending = new Stack<IReadOnlyList<TRecord>>();
        pending.Push(batch);
        var buffer = new ArrayBufferWriter<byte>(batch.Count * _bytesPerRecord);
        var first = true;
        while (pending.TryPop(out var records))
        {
            if (!first)
            {
                _counters.AddRetry();
            }

            first = false;
            if (!await SendUntilSettledAsync(records, pending, buffer, stopping, aborting))
            {
                _counters.AddGaveUp(records.Count + pending.Sum(p => p.Count));
                return;
            }
        }
    }

    /// <summary>One batch through throttling and transient failures; false when it had to give up on it.</summary>
    private async Task<bool> SendUntilSettledAsync(
        IReadOnlyList<TRecord> records, Stack<IReadOnlyList<TRecord>> pending, ArrayBufferWriter<byte> buffer,
        CancellationToken stopping, CancellationToken aborting)
    {
        buffer.ResetWrittenCount();
        Write(records, _format, buffer);
        var transientFailures = 0;
        for (var attempt = 0; ; attempt++)
        {
            if (attempt > 0)
            {
                _counters.AddRetry();
            }

            TimeSpan wait;
            try
            {
                using var content = new ReadOnlyMemoryContent(buffer.WrittenMemory);
                content.Headers.ContentType = _contentType;
                var started = TimeProvider.System.GetTimestamp();
                using var response = await _http.PostAsync(_endpoint, content, aborting);
                var body = await response.Content.ReadAsByteArrayAsync(aborting);
                _counters.AddRequest(TimeProvider.System.GetElapsedTime(started));
                var status = (int)response.StatusCode;
                if (status is 429 or 503)
                {
                    _counters.AddThrottled();
                    wait = RetryAfter(response.Headers.RetryAfter);
                }
                else if (status is >= 200 and < 300 or >= 400 and < 500 and not 413)
                {
                    Settle(records, status, body, pending);
                    return true;
                }
                else if (status == 413)
                {
                    return SplitOrReject(records, pending);
                }
                else
                {
                    _counters.AddTransientFailure();
                    if (++transientFailures > _policy.MaxTransientRetries)
                    {
                        return false;
                    }

                    wait = Backoff(transientFailures);
                }
            }
            catch (Exception ex) when (!aborting.IsCancellationRequested && ex is HttpRequestException or IOException or TaskCanceledException)
            {
                // Connection refused/reset or HttpClient.Timeout: the server may or may not have stored the batch.
                _counters.AddTransientFailure();
                if (++transientFailures > _policy.MaxTransientRetries)
                {
                    return false;
                }

                wait = Backoff(transientFailures);
            }
            catch (OperationCanceledException)
            {
                return false;
            }

            try
            {
                await Task.Delay(wait, stopping);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }
    }

    /// <summary>
    /// A 2xx or 4xx answer: the records it lists with retryable=true go back on the stack, the other
    /// listed ones are rejected, and the unlisted ones are acknowledged on 2xx and rejected on 4xx.
    /// </summary>
    private void Settle(IReadOnlyList<TRecord> records, int status, byte[] body, Stack<IReadOnlyList<TRecord>> pending)
    {
        var outcome = ResponseOutcome.Parse(body, records.Count);
        var success = status is >= 200 and < 300;
        var retry = new List<TRecord>();
        var acknowledged = new bool[records.Count];
        var rejected = 0;
        for (var i = 0; i < records.Count; i++)
        {
            if (outcome.Retryable.Contains(i))
            {
                retry.Add(records[i]);
            }
            else if (success && !outcome.Rejected.Contains(i))
            {
                acknowledged[i] = true;
            }
            else
            {
                rejected++;
            }
        }

        var acknowledgedCount = records.Count - rejected - retry.Count;
        if (acknowledgedCount > 0)
        {
            OnAcknowledged(records, i => acknowledged[i]);
            _counters.AddAcknowledged(acknowledgedCount);
        }

        if (rejected > 0)
        {
            _counters.AddRejected(rejected, outcome.FirstMessage ?? $"HTTP {status}");
        }

        if (retry.Count > 0)
        {
            pending.Push(retry);
        }
    }

    private bool SplitOrReject(IReadOnlyList<TRecord> records, Stack<IReadOnlyList<TRecord>> pending)
    {
        if (records.Count == 1)
        {
            _counters.AddRejected(1, "HTTP 413: a single record is too large");
            return true;
        }

        var half = records.Count / 2;
        pending.Push(records.Skip(half).ToList());
        pending.Push(records.Take(half).ToList());
        return true;
    }

    private TimeSpan RetryAfter(RetryConditionHeaderValue? header)
    {
        var wait = header switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - DateTimeOffset.UtcNow,
            _ => _policy.DefaultRetryAfter,
        };
        return wait < TimeSpan.Zero ? TimeSpan.Zero : wait > _policy.MaxRetryAfter ? _policy.MaxRetryAfter : wait;
    }

    /// <summary>Exponential backoff with full jitter in its upper half, so retrying senders spread out.</summary>
    private TimeSpan Backoff(int failures)
    {
        var exponential = _policy.InitialBackoff * Math.Pow(2, Math.Min(failures - 1, 20));
        var capped = exponential > _policy.MaxBackoff ? _policy.MaxBackoff : exponential;
        return capped * (0.5 + (Random.Shared.NextDouble() / 2));
    }
}
