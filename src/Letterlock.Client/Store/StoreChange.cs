namespace Letterlock.Client.Store;

/// <summary>A committed change to a folder, raised by <see cref="LocalStore.Changed"/>.</summary>
/// <param name="Account">The account.</param>
/// <param name="Folder">The folder.</param>
public abstract record StoreChange(AccountId Account, FolderId Folder);

/// <summary>A message arrived in a folder (append, copy, move, sync).</summary>
public sealed record MessageAddedChange(AccountId Account, FolderId Folder, MessageId Id, Uid Uid, ulong ModSeq, IReadOnlySet<string> Flags)
    : StoreChange(Account, Folder);

/// <summary>A message's flags changed.</summary>
public sealed record FlagsChangedChange(AccountId Account, FolderId Folder, MessageId Id, Uid Uid, ulong ModSeq, IReadOnlySet<string> Flags)
    : StoreChange(Account, Folder);

/// <summary>Messages left a folder (expunge, move away, delete).</summary>
public sealed record MessagesRemovedChange(AccountId Account, FolderId Folder, IReadOnlyList<Uid> Uids, ulong ModSeq)
    : StoreChange(Account, Folder);

/// <summary>A folder was deleted (or its account removed).</summary>
public sealed record FolderRemovedChange(AccountId Account, FolderId Folder) : StoreChange(Account, Folder);
