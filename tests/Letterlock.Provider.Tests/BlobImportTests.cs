using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Letterlock.Provider.Storage;

namespace Letterlock.Provider.Tests;

/// <summary>
/// The upgrade of a PostgreSQL provider from blobs in its data directory (every release before blobs moved
/// into the database) to blobs in PostgreSQL: on files main wrote (tests/Fixtures) and through a provider
/// restarted on its own data.
/// </summary>
[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class BlobImportTests(PostgresServer postgres)
{
    [Fact]
    public async Task Blob_files_main_wrote_move_into_PostgreSQL_unchanged_and_a_corrupt_file_stays()
    {
        string directory = TestProvider.CreateDirectory();
        try
        {
            string source = Path.Combine(RepositoryRoot(), "tests", "Fixtures", "sandbox-bb77344", "providers", "beta.test", "blobs");
            string folderPath = Path.Combine(directory, "blobs");
            var originals = new Dictionary<string, byte[]>();
            foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
            {
                string target = Path.Combine(folderPath, Path.GetRelativePath(source, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target);
                originals[Path.GetFileName(file)] = await File.ReadAllBytesAsync(file);
            }

            Assert.Equal(2, originals.Count);
            // a file whose bytes do not match its name (disk damage, a hand edit): reported, never imported
            string wrongName = new('e', 64);
            string corrupt = Path.Combine(folderPath, "ee", wrongName);
            Directory.CreateDirectory(Path.GetDirectoryName(corrupt)!);
            await File.WriteAllBytesAsync(corrupt, originals.Values.First());

            await using var store = new PostgresProviderStore(PostgresServer.ConnectionString(await postgres.CreateDatabaseAsync()), new ChangeNotifier());
            await store.InitializeAsync(CancellationToken.None);
            var blobs = new PostgresBlobStore(store.DataSource, chunkSize: 16 * 1024);
            var folder = new FolderBlobStore(folderPath);
            var report = await BlobImport.MoveAsync(folder, blobs, null, CancellationToken.None);

            Assert.Equal(2, report.Moved);
            Assert.Equal([corrupt], report.Corrupt);
            Assert.True(File.Exists(corrupt));
            Assert.Equal([wrongName], folder.Enumerate().Select(b => b.Hash));
            Assert.Equal(originals.Keys.Order(), (await BlobStoreTests.ListAsync(blobs)).Select(b => b.Hash).Order());
            foreach (var (hash, bytes) in originals)
            {
                await using var read = await blobs.OpenReadAsync(hash, CancellationToken.None);
                using var copy = new MemoryStream();
                await read.CopyToAsync(copy);
                Assert.Equal(bytes, copy.ToArray());
            }

            // a second start (or a start after a crash mid-import) moves what is left and nothing twice
            var again = await BlobImport.MoveAsync(folder, blobs, null, CancellationToken.None);
            Assert.Equal(0, again.Moved);
            Assert.Equal(2, (await BlobStoreTests.ListAsync(blobs)).Count);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_PostgreSQL_provider_that_kept_blobs_in_its_folder_moves_them_in_on_start_and_serves_every_document()
    {
        string directory = TestProvider.CreateDirectory();
        string database = await postgres.CreateDatabaseAsync();
        byte[] big = RandomNumberGenerator.GetBytes(300 * 1024);
        byte[] small = RandomNumberGenerator.GetBytes(100);
        TestAccount alice;

        // the layout of every release before: PostgreSQL for rows, the data directory's blobs/ for blobs
        var before = await TestProvider.StartAsync(Backend.Postgres, postgres, databaseUrl: database, directory: directory,
            editSettings: path => SetBlobs(path, "folder"));
        await using (before.Host)
        {
            Assert.IsType<FolderBlobStore>(before.Host.Blobs);
            using var client = before.Client();
            alice = await client.CreateAccountAsync("alice@example.test");
            await client.LoginAsync(alice);
            Assert.Equal(HttpStatusCode.Created, (await client.PutAsync("big", big)).StatusCode);
            Assert.Equal(HttpStatusCode.Created, (await client.PutAsync("small", small)).StatusCode);
        }

        string folderPath = Path.Combine(before.DataDirectory, "blobs");
        Assert.Single(new FolderBlobStore(folderPath).Enumerate());

        // the upgrade: the settings say nothing about blobs, so PostgreSQL's default (the database) applies
        SetBlobs(Path.Combine(before.DataDirectory, "provider.json"), null);
        await using var after = await TestProvider.StartAsync(Backend.Postgres, postgres, databaseUrl: database, directory: directory);
        Assert.IsType<PostgresBlobStore>(after.Host.Blobs);
        Assert.Empty(new FolderBlobStore(folderPath).Enumerate());
        using var reader = after.Client();
        await reader.LoginAsync(alice);
        Assert.Equal(big, await reader.GetBytesAsync("big"));
        Assert.Equal(small, await reader.GetBytesAsync("small"));
    }

    [Fact]
    public async Task Blobs_in_the_database_need_PostgreSQL()
    {
        string one = TestProvider.CreateDirectory(), two = TestProvider.CreateDirectory();
        try
        {
            var refused = await Assert.ThrowsAsync<Letterlock.Provider.Configuration.SettingsException>(() =>
                TestProvider.StartAsync(Backend.Sqlite, null, editSettings: path => SetBlobs(path, "database"), directory: one));
            Assert.Contains("storage.blobs", refused.Message, StringComparison.Ordinal);
            var unknown = await Assert.ThrowsAsync<Letterlock.Provider.Configuration.SettingsException>(() =>
                TestProvider.StartAsync(Backend.Sqlite, null, editSettings: path => SetBlobs(path, "s3"), directory: two));
            Assert.Contains("storage.blobs", unknown.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(one, recursive: true);
            Directory.Delete(two, recursive: true);
        }
    }

    private static void SetBlobs(string path, string? value)
    {
        var settings = JsonNode.Parse(File.ReadAllText(path), null,
            new System.Text.Json.JsonDocumentOptions { CommentHandling = System.Text.Json.JsonCommentHandling.Skip, AllowTrailingCommas = true })!;
        var storage = settings["storage"]!.AsObject();
        storage.Remove("blobs");
        if (value is not null)
        {
            storage["blobs"] = value;
        }

        File.WriteAllText(path, settings.ToJsonString());
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Letterlock.slnx")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
