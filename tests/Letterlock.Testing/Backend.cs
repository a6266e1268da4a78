namespace Letterlock.Testing;

/// <summary>Which storage a provider under test runs on.</summary>
public enum Backend
{
    Sqlite,
    Postgres,
}
