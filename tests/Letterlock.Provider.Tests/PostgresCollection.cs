namespace Letterlock.Provider.Tests;

/// <summary>The private PostgreSQL cluster the classes of this collection share (started once, stopped at the end).</summary>
[CollectionDefinition("postgres")]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>;
