using System.Globalization;

namespace Letterlock.Smtp;

/// <summary>
/// An SMTP reply: a three-digit code (RFC 5321, 4.2), an enhanced status code (RFC 3463) and a short
/// text. Texts sent to the peer are deliberately generic (STYLE.md, convention 5): the detail of why a
/// transaction failed goes to the host's log, never to the remote side.
/// </summary>
/// <param name="Code">The basic reply code, 200..599.</param>
/// <param name="EnhancedCode">The enhanced status code such as <c>5.1.1</c>, or empty.</param>
/// <param name="Text">Human-readable text; must not contain CR or LF.</param>
public readonly record struct SmtpReply(int Code, string EnhancedCode, string Text)
{
    /// <summary><c>250 2.0.0 OK</c>.</summary>
    public static SmtpReply Ok { get; } = new(250, "2.0.0", "OK");

    /// <summary><c>250 2.1.5 Recipient OK</c>.</summary>
    public static SmtpReply RecipientOk { get; } = new(250, "2.1.5", "Recipient OK");

    /// <summary><c>550 5.1.1 No such user</c>: the recipient does not exist here.</summary>
    public static SmtpReply NoSuchUser { get; } = new(550, "5.1.1", "No such user");

    /// <summary><c>550 5.7.1 Relaying denied</c>: the recipient's domain is not served here.</summary>
    public static SmtpReply RelayDenied { get; } = new(550, "5.7.1", "Relaying denied");

    /// <summary><c>552 5.2.2 Mailbox full</c>: the recipient is over quota.</summary>
    public static SmtpReply MailboxFull { get; } = new(552, "5.2.2", "Mailbox full");

    /// <summary><c>552 5.3.4 Message too big</c>.</summary>
    public static SmtpReply MessageTooBig { get; } = new(552, "5.3.4", "Message size exceeds fixed limit");

    /// <summary><c>452 4.5.3 Too many recipients</c> (RFC 5321, 4.5.3.1.10: the client should retry the rest later).</summary>
    public static SmtpReply TooManyRecipients { get; } = new(452, "4.5.3", "Too many recipients");

    /// <summary><c>451 4.3.0 Temporary failure</c>: something went wrong on our side; try again later.</summary>
    public static SmtpReply TemporaryFailure { get; } = new(451, "4.3.0", "Temporary failure, try again later");

    /// <summary><c>452 4.3.1 Insufficient system storage</c> (RFC 3463, 3.4; RFC 5321, 4.2.2): the disk is full; try again later.</summary>
    public static SmtpReply InsufficientStorage { get; } = new(452, "4.3.1", "Insufficient system storage, try again later");

    /// <summary><c>550 5.7.1 Sender rejected</c>.</summary>
    public static SmtpReply SenderRejected { get; } = new(550, "5.7.1", "Sender rejected");

    /// <summary><c>530 5.7.0 Authentication required</c>.</summary>
    public static SmtpReply AuthenticationRequired { get; } = new(530, "5.7.0", "Authentication required");

    /// <summary>True for 2xx replies.</summary>
    public bool IsPositive => Code is >= 200 and < 300;

    /// <summary>True for 5xx replies.</summary>
    public bool IsPermanentFailure => Code is >= 500 and < 600;

    /// <summary>The reply line as sent, without CRLF: <c>550 5.1.1 No such user</c>.</summary>
    public override string ToString() =>
        string.IsNullOrEmpty(EnhancedCode)
            ? string.Create(CultureInfo.InvariantCulture, $"{Code} {Text}")
            : string.Create(CultureInfo.InvariantCulture, $"{Code} {EnhancedCode} {Text}");
}
