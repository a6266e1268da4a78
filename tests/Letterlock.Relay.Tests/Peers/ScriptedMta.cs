using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Smtp;

namespace Letterlock.Relay.Tests.Peers;

/// <summary>A message a scripted MTA accepted.</summary>
internal sealed record ReceivedMessage(Guid SessionId, bool Secure, string Sender, IReadOnlyList<string> Recipients, byte[] Data);

/// <summary>
/// A receiving MTA for tests whose replies are scripted: the real Letterlock SMTP front end on a loopback port with
/// a backend that answers RCPT TO and end of DATA as the test says (451 then 250, 550, ...). Everything accepted is
/// kept in <see cref="Received"/>.
/// </summary>
internal sealed class ScriptedMta : IAsyncDisposable
{
    private readonly SmtpFrontEnd _frontEnd;
    private readonly Backend _backend;

    private ScriptedMta(SmtpFrontEnd frontEnd, Backend backend)
    {
        _frontEnd = frontEnd;
        _backend = backend;
    }

    public int Port => _frontEnd.BoundEndpoints[0].Port;

    public ConcurrentQueue<ReceivedMessage> Received => _backend.Received;

    /// <summary>Distinct SMTP sessions that started a transaction.</summary>
    public int Sessions => _backend.Sessions.Count;

    /// <summary>Answer for each RCPT TO; null accepts.</summary>
    public Func<string, SmtpReply?> OnRecipient { get => _backend.OnRecipient; set => _backend.OnRecipient = value; }

    /// <summary>
    /// How long an accepted message waits, already kept, before 250 is sent: a slow server whose client may die
    /// before it hears the answer (the crash test's duplicates).
    /// </summary>
    public TimeSpan AcceptDelay { get => _backend.AcceptDelay; set => _backend.AcceptDelay = value; }

    /// <summary>Answer at the end of DATA; null accepts.</summary>
    public Func<ReceivedMessage, SmtpReply?> OnData { get => _backend.OnData; set => _backend.OnData = value; }

    public static ScriptedMta Start(X509Certificate2? certificate = null, string name = "mx.scripted.test")
    {
        var options = new SmtpFrontEndOptions { ServerName = name, Certificate = certificate, CommandTimeout = TimeSpan.FromMinutes(2) };
        options.Listeners.Add(new SmtpListenerOptions { Name = "mx", EndPoint = new IPEndPoint(IPAddress.Loopback, 0) });
        var backend = new Backend();
        return new ScriptedMta(SmtpFrontEnd.Start(options, backend), backend);
    }

    public async Task<ReceivedMessage> WaitForMessageAsync(Func<ReceivedMessage, bool>? match = null, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline)
        {
            var found = Received.FirstOrDefault(m => match is null || match(m));
            if (found is not null)
            {
                return found;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("the scripted MTA received no matching message");
    }

    public ValueTask DisposeAsync() => _frontEnd.DisposeAsync();

    private sealed class Backend : ISmtpBackend
    {
        public ConcurrentQueue<ReceivedMessage> Received { get; } = new();

        public ConcurrentDictionary<Guid, bool> Sessions { get; } = new();

        public Func<string, SmtpReply?> OnRecipient { get; set; } = _ => null;

        public Func<ReceivedMessage, SmtpReply?> OnData { get; set; } = _ => null;

        public TimeSpan AcceptDelay { get; set; }

        public ValueTask<SmtpDeliveryStart> StartDeliveryAsync(SmtpSessionInfo session, string reversePath, long declaredSize, CancellationToken ct)
        {
            Sessions.TryAdd(session.SessionId, true);
            return ValueTask.FromResult(SmtpDeliveryStart.Accept(new Delivery(this, session, reversePath)));
        }

        private sealed class Delivery(Backend backend, SmtpSessionInfo session, string sender) : ISmtpDelivery
        {
            private readonly List<string> _recipients = [];
            private readonly MemoryStream _data = new();

            public ValueTask<SmtpReply> AddRecipientAsync(string forwardPath, CancellationToken ct)
            {
                var reply = backend.OnRecipient(forwardPath);
                if (reply is null || reply.Value.IsPositive)
                {
                    _recipients.Add(forwardPath);
                }

                return ValueTask.FromResult(reply ?? SmtpReply.RecipientOk);
            }

            public ValueTask WriteBodyAsync(ReadOnlyMemory<byte> chunk, CancellationToken ct)
            {
                _data.Write(chunk.Span);
                return ValueTask.CompletedTask;
            }

            public async ValueTask<SmtpReply> CommitAsync(CancellationToken ct)
            {
                var message = new ReceivedMessage(session.SessionId, session.IsSecure, sender, _recipients.ToList(), _data.ToArray());
                var reply = backend.OnData(message);
                if (reply is null || reply.Value.IsPositive)
                {
                    backend.Received.Enqueue(message);
                    if (backend.AcceptDelay > TimeSpan.Zero)
                    {
                        await Task.Delay(backend.AcceptDelay, ct);
                    }
                }

                return reply ?? SmtpReply.Ok;
            }

            public ValueTask AbortAsync() => ValueTask.CompletedTask;

            public ValueTask DisposeAsync()
            {
                _data.Dispose();
                return ValueTask.CompletedTask;
            }
        }
    }
}
