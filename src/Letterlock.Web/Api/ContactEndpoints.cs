using Letterlock.Client;
using Letterlock.Client.Store;
using Letterlock.Client.Validation;
using Letterlock.Web.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Letterlock.Web.Api;

/// <summary>
/// Contacts and trust: every contact's key, level and history; verifying by safety number, fingerprint or QR code;
/// accepting or rejecting a changed key with its evidence. Decisions go through the contact store's own operations
/// (<see cref="ContactStore.VerifyKeyAsync"/>, <see cref="ContactStore.AcceptKeyAsync"/>), as <c>letterlock contacts</c> does.
/// </summary>
internal sealed class ContactEndpoints(WebContext web)
{
    public void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/api/accounts/{account}/contacts", ListAsync);
        app.MapGet("/api/accounts/{account}/contacts/{address}", GetAsync);
        app.MapPost("/api/accounts/{account}/contacts/{address}/verify", VerifyAsync);
        app.MapPost("/api/accounts/{account}/contacts/{address}/accept", AcceptAsync);
        app.MapPost("/api/accounts/{account}/contacts/{address}/scan", ScanAsync);
    }

    private async Task ListAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account)
        {
            return;
        }

        var contacts = await web.Store.Contacts.ListAsync(account.Id, context.RequestAborted);
        await HttpJson.WriteAsync(context, contacts.Select(c => new ContactItemDto(c.Address, c.DisplayName, Level(c.KeyState.Level),
            c.KeyState.Pinned?.Fingerprint.ToDisplayString(), c.KeyState.Candidate is not null)).ToList(), WebJson.Default.ListContactItemDto);
    }

    private async Task<(AccountRecord Account, ContactRecord Contact)?> ContactAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account)
        {
            return null;
        }

        if (MailAddress.TryNormalize((string?)context.Request.RouteValues["address"]) is { } address
            && await web.Store.Contacts.GetAsync(account.Id, address, context.RequestAborted) is { } contact)
        {
            return (account, contact);
        }

        await WebGuard.Problem(context, 404, "No such contact", "The account has never seen this address.");
        return null;
    }

    private async Task GetAsync(HttpContext context)
    {
        if (await ContactAsync(context) is not var (account, contact))
        {
            return;
        }

        await WriteContactAsync(context, account, contact);
    }

    private async Task WriteContactAsync(HttpContext context, AccountRecord account, ContactRecord contact)
    {
        var state = contact.KeyState;
        var history = await web.Store.Contacts.HistoryAsync(account.Id, contact.Address, context.RequestAborted);
        SafetyDto? safety = null;
        if (state.Pinned is { } pinned)
        {
            var mine = await web.Views.OwnFingerprintAsync(account.Id, context.RequestAborted);
            safety = new SafetyDto(SafetyNumber.Compute(account.Address, mine, contact.Address, pinned.Fingerprint), mine.ToDisplayString(),
                pinned.Fingerprint.ToDisplayString(), Qr.For(QrPayload.For(mine, account.Address)));
        }

        await HttpJson.WriteAsync(context, new ContactDto(contact.Address, contact.DisplayName, Level(state.Level), state.CanEncryptAutomatically,
            contact.EncryptedOnly, Key(state.Pinned), Key(state.Candidate),
            history.Select(t => new TransitionDto(t.At, Level(t.From), Level(t.To), t.Reason.ToString(), Explain(t), t.OldKey?.ToDisplayString(),
                t.NewKey?.ToDisplayString(), t.Origin?.ToString())).ToList(), safety), WebJson.Default.ContactDto);
    }

    /// <summary>
    /// The user compared the safety number or the fingerprint shown for this key and found it right: the request names the
    /// key they saw, so a key that changed meanwhile is not what gets verified.
    /// </summary>
    private async Task VerifyAsync(HttpContext context) => await DecideAsync(context, verify: true);

    /// <summary>Accept a key: the new one after a change, or the pinned one (rejecting the change).</summary>
    private async Task AcceptAsync(HttpContext context) => await DecideAsync(context, verify: false);

    private async Task DecideAsync(HttpContext context, bool verify)
    {
        if (await ContactAsync(context) is not var (account, contact)
            || await HttpJson.ReadAsync(context, WebJson.Default.KeyDecisionRequest, web.Options) is not { } request)
        {
            return;
        }

        if (!KeyFingerprint.TryParse(request.Fingerprint, out var fingerprint))
        {
            await WebGuard.Problem(context, 400, "Not a fingerprint", "A fingerprint is 40 (v4) or 64 (v6) hexadecimal digits.");
            return;
        }

        await ApplyAsync(context, account, contact, fingerprint, verify);
    }

    private async Task ApplyAsync(HttpContext context, AccountRecord account, ContactRecord contact, KeyFingerprint fingerprint, bool verify)
    {
        var result = verify
            ? await web.Store.Contacts.VerifyKeyAsync(account.Id, contact.Address, fingerprint, context.RequestAborted)
            : await web.Store.Contacts.AcceptKeyAsync(account.Id, contact.Address, fingerprint, context.RequestAborted);
        switch (result.Status)
        {
            case KeyDecisionStatus.UnknownFingerprint:
                await WebGuard.Problem(context, 409, "Not this contact's key",
                    $"{fingerprint.ToDisplayString()} is not a key seen for {contact.Address}: do not trust it; ask them which key is theirs.");
                return;
            case KeyDecisionStatus.NothingToAccept:
                await WebGuard.Problem(context, 409, "No key", $"No key is known for {contact.Address}.");
                return;
        }

        await WriteContactAsync(context, account, (await web.Store.Contacts.GetAsync(account.Id, contact.Address, context.RequestAborted))!);
    }

    /// <summary>The text of the contact's QR code (scanned on another device, or pasted): it verifies the key when it names the one held here.</summary>
    private async Task ScanAsync(HttpContext context)
    {
        if (await ContactAsync(context) is not var (account, contact)
            || await HttpJson.ReadAsync(context, WebJson.Default.ScanRequest, web.Options) is not { } request)
        {
            return;
        }

        if (QrPayload.TryParse(request.Payload, out var fingerprint, out var address) is false)
        {
            await WebGuard.Problem(context, 400, "Not a key code", "The code is not an OPENPGP4FPR: key code.");
            return;
        }

        if (address is not null && address != contact.Address)
        {
            await WebGuard.Problem(context, 409, "Another address", $"The code is for {address}, not {contact.Address}.");
            return;
        }

        await ApplyAsync(context, account, contact, fingerprint, verify: true);
    }

    private static KeyDto? Key(ContactKey? key) => key is null ? null : new KeyDto(key.Fingerprint.Hex, key.Fingerprint.ToDisplayString(), key.Origin.ToString(), key.Since);

    internal static string Level(KeyValidationLevel level) => level.ToString().ToLowerInvariant();

    private static string Explain(KeyTransition t)
    {
        string origin = t.Origin is { } o ? o switch
        {
            KeyOrigin.ProviderDirectory => "the provider's key directory",
            KeyOrigin.Wkd => "the domain's Web Key Directory",
            KeyOrigin.Autocrypt => "an Autocrypt header of their mail",
            KeyOrigin.AutocryptGossip => "Autocrypt gossip inside encrypted mail",
            KeyOrigin.Hkp => "a keyserver",
            _ => "your import",
        } : "an unknown source";
        return t.Reason switch
        {
            KeyTransitionReason.FirstSeen => $"First key seen for this address, from {origin}: trusted on first use.",
            KeyTransitionReason.TransparencyConfirmed => "Confirmed by the provider's transparency log (proof checked).",
            KeyTransitionReason.TransparencyBackedChange => $"Replaced by a new key from {origin}, shown in the provider's transparency log (proof checked).",
            KeyTransitionReason.KeyChanged => $"A different key arrived from {origin} WITHOUT transparency evidence: automatic encryption stopped until you decide.",
            KeyTransitionReason.ChangedAgain => $"Yet another key arrived from {origin} while a change was pending.",
            KeyTransitionReason.TransparencyProofFailed => "A transparency proof came with a key but did NOT verify; the key was judged without it.",
            KeyTransitionReason.UserAccepted => "You accepted this key.",
            KeyTransitionReason.UserVerified => "You verified this key (safety number, fingerprint or QR code).",
            _ => t.Reason.ToString(),
        };
    }
}
