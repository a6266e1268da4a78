using System.Collections.Concurrent;
using System.Security.Cryptography;
using Letterlock.Api;
using Letterlock.Client;

namespace Letterlock.Web.Api;

/// <summary>
/// Device approvals in progress. Approving a new device (<see cref="Letterlock.Client.Accounts.DeviceLink.ApproveAsync"/>)
/// runs CPace with the new device and then waits for the person to compare six digits on both screens; in the web app
/// that wait spans two requests, so the approval runs here between them. One approval per account at a time; each ends
/// when it is answered, when it fails, or after <see cref="WebOptions.DeviceApprovalTimeout"/> (then nothing is sent).
/// </summary>
internal sealed class DeviceApprovals(WebOptions options, TimeProvider time) : IDisposable
{
    /// <summary>Runs the approval; its argument shows the digits and returns the person's answer.</summary>
    public delegate Task<DeviceInfo> Approval(Func<string, CancellationToken, Task<bool>> confirm, CancellationToken ct);

    private readonly ConcurrentDictionary<AccountId, Pending> _pending = new();

    /// <summary>One approval: the digits once CPace has run, the person's answer, and the run itself.</summary>
    internal sealed class Pending(CancellationTokenSource cancel)
    {
        /// <summary>An unguessable handle for the second request (the session cookie and CSRF token guard it as well).</summary>
        public string Id { get; } = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

        /// <summary>The six digits both screens show; cancelled when the run ends before getting there.</summary>
        public TaskCompletionSource<string> Sas { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Whether the person saw the same digits on the new device.</summary>
        public TaskCompletionSource<bool> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationTokenSource Cancel { get; } = cancel;

        public Task<DeviceInfo> Run { get; set; } = Task.FromException<DeviceInfo>(new InvalidOperationException("not started"));
    }

    /// <summary>Starts an approval for <paramref name="account"/>, or returns null while another one for it runs.</summary>
    public Pending? Start(AccountId account, Approval approve)
    {
        var pending = new Pending(new CancellationTokenSource(options.DeviceApprovalTimeout, time));
        if (!_pending.TryAdd(account, pending))
        {
            pending.Cancel.Dispose();
            return null;
        }

        pending.Run = Task.Run(() => RunAsync(account, pending, approve));
        return pending;
    }

    /// <summary>The running approval of <paramref name="account"/> with handle <paramref name="id"/>, if any.</summary>
    public Pending? Find(AccountId account, string id) =>
        _pending.TryGetValue(account, out var pending) && id.Length == pending.Id.Length
        && CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(id), System.Text.Encoding.ASCII.GetBytes(pending.Id))
            ? pending
            : null;

    private async Task<DeviceInfo> RunAsync(AccountId account, Pending pending, Approval approve)
    {
        try
        {
            return await approve(async (sas, ct) =>
            {
                pending.Sas.TrySetResult(sas);
                return await pending.Answer.Task.WaitAsync(ct).ConfigureAwait(false);
            }, pending.Cancel.Token).ConfigureAwait(false);
        }
        finally
        {
            pending.Sas.TrySetCanceled();
            _pending.TryRemove(new KeyValuePair<AccountId, Pending>(account, pending));
            pending.Cancel.Dispose();
        }
    }

    /// <summary>Ends every approval in progress (the web app stops); none sends anything after this.</summary>
    public void Dispose()
    {
        foreach (var pending in _pending.Values)
        {
            try
            {
                pending.Cancel.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // It ended meanwhile.
            }
        }
    }
}
