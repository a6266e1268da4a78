namespace Letterlock.Web;

/// <summary>
/// Where the web app listens and every limit it puts on what a browser (or anything else that reaches 127.0.0.1)
/// sends it. Each limit is validated when set; the error names the setting.
/// </summary>
public sealed class WebOptions
{
    /// <summary>The default port on 127.0.0.1.</summary>
    public const int DefaultPort = 8143;

    private int _port = DefaultPort;
    private TimeSpan _loginLinkLifetime = TimeSpan.FromHours(1);
    private TimeSpan _sessionIdleTimeout = TimeSpan.FromHours(12);
    private int _maxSessions = 32;
    private int _maxPendingLoginLinks = 64;
    private long _maxAttachmentBytes = 25L * 1024 * 1024;
    private long _maxUploadBytesPerSession = 50L * 1024 * 1024;
    private int _maxUploadsPerSession = 100;
    private int _maxJsonBytes = 1024 * 1024;
    private int _maxPageSize = 200;
    private int _maxRecipients = 100;
    private int _maxSearchResults = 500;
    private int _maxInlineImageBytes = 2 * 1024 * 1024;
    private int _maxRemoteImageSenders = 10_000;
    private TimeSpan _deviceApprovalTimeout = TimeSpan.FromMinutes(10);

    /// <summary>Port on 127.0.0.1 (default <see cref="DefaultPort"/>; 0 picks a free one).</summary>
    public int Port { get => _port; set => _port = Check(value, 0, 65535, nameof(Port)); }

    /// <summary>
    /// How long a login link is good for, unused (default 1 hour). It is good for one login only; after that the
    /// session cookie carries on.
    /// </summary>
    public TimeSpan LoginLinkLifetime
    {
        get => _loginLinkLifetime;
        set => _loginLinkLifetime = Check(value, TimeSpan.FromSeconds(10), TimeSpan.FromDays(7), nameof(LoginLinkLifetime));
    }

    /// <summary>A session not used for this long ends (default 12 hours); every session ends with the process.</summary>
    public TimeSpan SessionIdleTimeout
    {
        get => _sessionIdleTimeout;
        set => _sessionIdleTimeout = Check(value, TimeSpan.FromMinutes(1), TimeSpan.FromDays(30), nameof(SessionIdleTimeout));
    }

    /// <summary>Sessions held at once (default 32); the least recently used one ends to make room.</summary>
    public int MaxSessions { get => _maxSessions; set => _maxSessions = Check(value, 1, 10_000, nameof(MaxSessions)); }

    /// <summary>Unused login links held at once (default 64); the oldest is dropped to make room.</summary>
    public int MaxPendingLoginLinks { get => _maxPendingLoginLinks; set => _maxPendingLoginLinks = Check(value, 1, 10_000, nameof(MaxPendingLoginLinks)); }

    /// <summary>The largest attachment one upload may carry, in bytes (default 25 MiB).</summary>
    public long MaxAttachmentBytes
    {
        get => _maxAttachmentBytes;
        set => _maxAttachmentBytes = Check(value, 1024, 1024L * 1024 * 1024, nameof(MaxAttachmentBytes));
    }

    /// <summary>The most that uploads not yet sent or saved may hold in memory for one session, in bytes (default 50 MiB).</summary>
    public long MaxUploadBytesPerSession
    {
        get => _maxUploadBytesPerSession;
        set => _maxUploadBytesPerSession = Check(value, 1024, 4L * 1024 * 1024 * 1024, nameof(MaxUploadBytesPerSession));
    }

    /// <summary>Uploads one session may hold at once (default 100).</summary>
    public int MaxUploadsPerSession { get => _maxUploadsPerSession; set => _maxUploadsPerSession = Check(value, 1, 10_000, nameof(MaxUploadsPerSession)); }

    /// <summary>The largest JSON request body, in bytes (default 1 MiB): a message text and its fields, never a file.</summary>
    public int MaxJsonBytes { get => _maxJsonBytes; set => _maxJsonBytes = Check(value, 1024, 64 * 1024 * 1024, nameof(MaxJsonBytes)); }

    /// <summary>The most messages one page of a folder lists (default 200).</summary>
    public int MaxPageSize { get => _maxPageSize; set => _maxPageSize = Check(value, 1, 10_000, nameof(MaxPageSize)); }

    /// <summary>The most recipients (To, Cc and Bcc together) one message may have (default 100).</summary>
    public int MaxRecipients { get => _maxRecipients; set => _maxRecipients = Check(value, 1, 10_000, nameof(MaxRecipients)); }

    /// <summary>The most messages a search lists (default 500, newest first; the total is still told).</summary>
    public int MaxSearchResults { get => _maxSearchResults; set => _maxSearchResults = Check(value, 1, 100_000, nameof(MaxSearchResults)); }

    /// <summary>
    /// The largest <c>cid:</c> image of an HTML message inlined into its frame as a <c>data:</c> URI, in bytes (default
    /// 2 MiB): larger ones are left out rather than loaded from anywhere.
    /// </summary>
    public int MaxInlineImageBytes { get => _maxInlineImageBytes; set => _maxInlineImageBytes = Check(value, 0, 64 * 1024 * 1024, nameof(MaxInlineImageBytes)); }

    /// <summary>The most senders whose remote images an account may allow (default 10,000).</summary>
    public int MaxRemoteImageSenders
    {
        get => _maxRemoteImageSenders;
        set => _maxRemoteImageSenders = Check(value, 0, 1_000_000, nameof(MaxRemoteImageSenders));
    }

    /// <summary>
    /// How long approving a new device may take from the code being typed to the answer on the six digits (default 10
    /// minutes, as long as a link lives at the provider): an approval not answered by then ends and sends nothing.
    /// </summary>
    public TimeSpan DeviceApprovalTimeout
    {
        get => _deviceApprovalTimeout;
        set => _deviceApprovalTimeout = Check(value, TimeSpan.FromSeconds(10), TimeSpan.FromHours(1), nameof(DeviceApprovalTimeout));
    }

    private static T Check<T>(T value, T min, T max, string name)
        where T : IComparable<T> =>
        value.CompareTo(min) < 0 || value.CompareTo(max) > 0
            ? throw new ArgumentOutOfRangeException(name, value, $"{name} must be between {min} and {max}.")
            : value;
}
