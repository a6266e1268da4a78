namespace Letterlock.Web.Security;

/// <summary>An attachment uploaded for a message being written.</summary>
/// <param name="Id">Its id in the session (random, 128 bits).</param>
/// <param name="FileName">The name it is sent under.</param>
/// <param name="ContentType">Its media type as the browser said it.</param>
/// <param name="Content">The bytes.</param>
internal sealed record Upload(string Id, string FileName, string ContentType, byte[] Content);

/// <summary>
/// One session's uploads, held in memory until the message is sent or saved as a draft (then the store keeps them,
/// sealed) or the session ends. Bounded by count and bytes (<see cref="WebOptions.MaxUploadsPerSession"/>,
/// <see cref="WebOptions.MaxUploadBytesPerSession"/>).
/// </summary>
internal sealed class UploadStore
{
    private readonly Dictionary<string, Upload> _uploads = new(StringComparer.Ordinal);
    private long _bytes;

    public long Bytes
    {
        get
        {
            lock (_uploads)
            {
                return _bytes;
            }
        }
    }

    /// <summary>Adds an upload unless it would pass a limit; the refusal names the limit.</summary>
    public string? TryAdd(Upload upload, WebOptions options)
    {
        lock (_uploads)
        {
            if (_uploads.Count >= options.MaxUploadsPerSession)
            {
                return $"At most {options.MaxUploadsPerSession} attachments may wait to be sent at once (MaxUploadsPerSession).";
            }

            if (_bytes + upload.Content.Length > options.MaxUploadBytesPerSession)
            {
                return $"Attachments waiting to be sent may hold at most {options.MaxUploadBytesPerSession} bytes together (MaxUploadBytesPerSession).";
            }

            _uploads[upload.Id] = upload;
            _bytes += upload.Content.Length;
            return null;
        }
    }

    public Upload? Get(string id)
    {
        lock (_uploads)
        {
            return _uploads.GetValueOrDefault(id);
        }
    }

    public bool Remove(string id)
    {
        lock (_uploads)
        {
            if (!_uploads.Remove(id, out var upload))
            {
                return false;
            }

            _bytes -= upload.Content.Length;
            return true;
        }
    }

    public void Clear()
    {
        lock (_uploads)
        {
            _uploads.Clear();
            _bytes = 0;
        }
    }
}
