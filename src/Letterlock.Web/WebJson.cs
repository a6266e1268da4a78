using System.Text.Json.Serialization;
using Letterlock.Web.Security;

namespace Letterlock.Web;

// The web app's JSON: what the browser sends and gets (docs/design/web.md, "Routes"). Ids are 32 hex digits.

internal sealed record ProblemDto(string Type, string Title, int Status, string Detail);

internal sealed record OkDto(bool Ok);

internal sealed record PingDto(string App);

internal sealed record SessionRequest(string? Token);

internal sealed record SessionDto(string Csrf);

internal sealed record AccountDto(string Id, string Address, string? DisplayName, string Policy);

internal sealed record FolderDto(string Id, string Name, string Role, int Total, int Unread);

internal sealed record CreateFolderRequest(string? Name);

internal sealed record AddressDto(string? Name, string Address);

internal sealed record MessageItemDto(string Id, string FolderId, uint Uid, string? Subject, string? From, string? FromAddress, DateTimeOffset Date, bool Seen,
    bool Flagged, bool Answered, string Encryption, string Signature, int Thread);

internal sealed record MessagePageDto(string FolderId, int Total, int Unread, int Offset, int Size, IReadOnlyList<MessageItemDto> Messages);

internal sealed record BannerDto(string Tone, string Encryption, string EncryptionTone, string EncryptionText, string Signature, string SignatureTone,
    string SignatureText, string? Signer, string? SignerFingerprint, string? TrustAtReceipt, string? TrustNow);

internal sealed record AttachmentDto(int Index, string Name, string ContentType, long Size);

internal sealed record RemoteContentDto(int Blocked, bool Allowed, bool CanAllow, string? Sender, string? Reason);

internal sealed record ThreadItemDto(string Id, string FolderId, string? Subject, string? From, DateTimeOffset? Date, bool Current);

internal sealed record MessageDto(string Id, string FolderId, string FolderRole, string? Subject, IReadOnlyList<AddressDto> From, IReadOnlyList<AddressDto> To,
    IReadOnlyList<AddressDto> Cc, IReadOnlyList<AddressDto> ReplyTo, DateTimeOffset Date, bool Seen, bool Flagged, BannerDto Banner,
    IReadOnlyList<AttachmentDto> Attachments, RemoteContentDto Remote, IReadOnlyList<ThreadItemDto> Thread, string FrameUrl, string? Newer, string? Older);

internal sealed record FlagsRequest(bool? Seen, bool? Flagged);

internal sealed record MoveRequest(string? Folder);

internal sealed record RemoteImagesRequest(string? Sender, bool Allow);

internal sealed record SearchResultDto(string Query, int Total, IReadOnlyList<MessageItemDto> Messages, string? Detail);

// ---- Writing ----

internal sealed record UploadDto(string Id, string Name, string ContentType, long Size);

internal sealed record DraftDto(string? DraftId, IReadOnlyList<string> To, IReadOnlyList<string> Cc, IReadOnlyList<string> Bcc, string Subject, string Text,
    string? InReplyTo, string? References, IReadOnlyList<UploadDto> Attachments, bool OnlyEncrypted);

internal sealed record PlanRequest(IReadOnlyList<string>? Recipients, bool OnlyEncrypted);

internal sealed record RecipientPlanDto(string Address, string Route, string Protocol, string Level, string? Fingerprint, string Text);

internal sealed record PlanDto(IReadOnlyList<RecipientPlanDto> Recipients, string Outcome, bool Encrypted, string Summary);

internal sealed record SendResultDto(string Status, bool Encrypted, string Detail, IReadOnlyList<string> Recipients);

internal sealed record SavedDraftDto(string DraftId);

// ---- Contacts and trust ----

internal sealed record ContactItemDto(string Address, string? Name, string Level, string? Fingerprint, bool Pending);

internal sealed record KeyDto(string Fingerprint, string Display, string Origin, DateTimeOffset Since);

internal sealed record TransitionDto(DateTimeOffset At, string From, string To, string Reason, string Explanation, string? OldKey, string? NewKey, string? Origin);

internal sealed record QrDto(string Payload, IReadOnlyList<string> Modules);

internal sealed record SafetyDto(string Number, string Mine, string Theirs, QrDto Qr);

internal sealed record ContactDto(string Address, string? Name, string Level, bool EncryptAutomatically, bool EncryptedOnly, KeyDto? Pinned, KeyDto? Candidate,
    IReadOnlyList<TransitionDto> History, SafetyDto? Safety);

internal sealed record KeyDecisionRequest(string? Fingerprint);

internal sealed record ScanRequest(string? Payload);

// ---- Account and devices ----

internal sealed record BridgeSettingsDto(string ImapHost, int ImapPort, string SmtpHost, int SmtpPort, string Security, string UserName, string CertificateSha256);

internal sealed record AccountInfoDto(string Id, string Address, string? DisplayName, string Policy, DateTimeOffset Created, string? Provider, string? DeviceId,
    string? Fingerprint, QrDto? Qr, BridgeSettingsDto Bridge, IReadOnlyList<string> Capabilities);

internal sealed record PolicyRequest(string? Policy);

internal sealed record BridgePasswordDto(string Password);

internal sealed record DeviceDto(string Id, string Name, DateTimeOffset Created, DateTimeOffset? LastSeen, DateTimeOffset? Revoked, bool ThisDevice);

internal sealed record DevicesDto(IReadOnlyList<DeviceDto> Devices, bool HasPassword, bool HasRecovery);

internal sealed record PasswordRequest(string? Password);

internal sealed record RecoveryKitDto(string Code);

internal sealed record RevokedDto(ulong KeyBundleVersion);

internal sealed record ApproveRequest(string? Code);

internal sealed record ApprovalDto(string Approval, string Sas);

internal sealed record ApprovalAnswerRequest(bool Same);

internal sealed record ApprovedDto(string Id, string Name);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ProblemDto))]
[JsonSerializable(typeof(OkDto))]
[JsonSerializable(typeof(PingDto))]
[JsonSerializable(typeof(SessionRequest))]
[JsonSerializable(typeof(SessionDto))]
[JsonSerializable(typeof(StoredLink))]
[JsonSerializable(typeof(List<string>))]
[JsonSerializable(typeof(List<AccountDto>))]
[JsonSerializable(typeof(List<FolderDto>))]
[JsonSerializable(typeof(FolderDto))]
[JsonSerializable(typeof(CreateFolderRequest))]
[JsonSerializable(typeof(MessagePageDto))]
[JsonSerializable(typeof(MessageDto))]
[JsonSerializable(typeof(FlagsRequest))]
[JsonSerializable(typeof(MoveRequest))]
[JsonSerializable(typeof(RemoteImagesRequest))]
[JsonSerializable(typeof(SearchResultDto))]
[JsonSerializable(typeof(UploadDto))]
[JsonSerializable(typeof(DraftDto))]
[JsonSerializable(typeof(PlanRequest))]
[JsonSerializable(typeof(PlanDto))]
[JsonSerializable(typeof(SendResultDto))]
[JsonSerializable(typeof(SavedDraftDto))]
[JsonSerializable(typeof(List<ContactItemDto>))]
[JsonSerializable(typeof(ContactDto))]
[JsonSerializable(typeof(KeyDecisionRequest))]
[JsonSerializable(typeof(ScanRequest))]
[JsonSerializable(typeof(AccountInfoDto))]
[JsonSerializable(typeof(PolicyRequest))]
[JsonSerializable(typeof(BridgePasswordDto))]
[JsonSerializable(typeof(DevicesDto))]
[JsonSerializable(typeof(PasswordRequest))]
[JsonSerializable(typeof(RecoveryKitDto))]
[JsonSerializable(typeof(RevokedDto))]
[JsonSerializable(typeof(ApproveRequest))]
[JsonSerializable(typeof(ApprovalDto))]
[JsonSerializable(typeof(ApprovalAnswerRequest))]
[JsonSerializable(typeof(ApprovedDto))]
internal sealed partial class WebJson : JsonSerializerContext;
