namespace Letterlock.Transparency;

/// <summary>
/// Bytes that should hold a transparency structure (docs/FORMATS.md) are malformed or exceed a limit
/// of <see cref="TransparencyLimits"/>. The message names the structure, never its content.
/// </summary>
public sealed class TransparencyFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TransparencyFormatException()
        : base("Malformed transparency data.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public TransparencyFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public TransparencyFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
