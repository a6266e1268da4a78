using Npgsql;

namespace Letterlock.Provider.Storage;

/// <summary>
/// Recognises a failure that says the database cannot be reached right now (PostgreSQL down, restarting, refusing
/// connections, or a connection lost mid-query), as opposed to a fault in the request or in the provider. Such a
/// request is answered "try again later" (HTTP 503, SMTP 451) and the node keeps running: Npgsql's pool opens fresh
/// connections once the server is back, so the node recovers without a restart.
/// </summary>
internal static class DatabaseUnavailable
{
    /// <summary>Whether <paramref name="failure"/> (or an exception inside it) is a transient database failure.</summary>
    public static bool Is(Exception failure)
    {
        for (var e = failure; e is not null; e = e.InnerException)
        {
            // IsTransient: the connection could not be opened or broke, a timeout, or a server state such as
            // admin_shutdown, crash_shutdown, cannot_connect_now (57P0x), connection exceptions (08xxx) and
            // insufficient resources (53xxx; a full disk is told apart before this by StorageFull)
            if (e is NpgsqlException { IsTransient: true })
            {
                return true;
            }

            if (e is AggregateException aggregate && aggregate.InnerExceptions.Any(Is))
            {
                return true;
            }
        }

        return false;
    }
}
