using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;

namespace Letterlock.OpenPgp;

/// <summary>Options for <see cref="OpenPgpEngine.Encrypt"/>.</summary>
public sealed record EncryptOptions
{
    /// <summary>Keys that sign the message inside the encryption (sign-then-encrypt in one message).</summary>
    public IReadOnlyList<UnlockedKey> Signers { get; init; } = [];

    /// <summary>Passwords the message can also be decrypted with (SKESK, iterated+salted S2K).</summary>
    public IReadOnlyList<string> Passwords { get; init; } = [];

    /// <summary>ASCII-armor the output (default true).</summary>
    public bool Armor { get; init; } = true;

    /// <summary>The literal data format; <see cref="LiteralFormat.Utf8"/> also makes text signatures.</summary>
    public LiteralFormat Format { get; init; } = LiteralFormat.Binary;

    /// <summary>The time used to select recipient and signing keys and to date signatures (default: now).</summary>
    public DateTimeOffset? Now { get; init; }
}

/// <summary>Options for <see cref="OpenPgpEngine.Decrypt"/>.</summary>
public sealed record DecryptOptions
{
    /// <summary>Secret keys to try.</summary>
    public IReadOnlyList<UnlockedKey> Keys { get; init; } = [];

    /// <summary>Passwords to try on password-encrypted session keys.</summary>
    public IReadOnlyList<string> Passwords { get; init; } = [];

    /// <summary>Certificates to verify inner signatures with.</summary>
    public IReadOnlyList<Certificate> Verifiers { get; init; } = [];
}

/// <summary>
/// OpenPGP messages on BouncyCastle with a strict decryption path: no plaintext leaves
/// <see cref="Decrypt"/> unless the whole ciphertext was read and its MDC verified; a missing MDC,
/// a failed MDC or a truncated ciphertext is an <see cref="IntegrityException"/> and no partial
/// plaintext is returned. Output always uses AES-256 with MDC and SHA-512 signatures, uncompressed.
/// Thread-safe; create one per options set.
/// </summary>
public sealed class OpenPgpEngine(OpenPgpOptions? options = null)
{
    /// <summary>The limits applied to every input.</summary>
    public OpenPgpOptions Options { get; } = options ?? OpenPgpOptions.Default;

    /// <summary>Encrypts (and optionally signs) <paramref name="plaintext"/> to each recipient's newest valid encryption key.</summary>
    /// <exception cref="KeyNotUsableException">A recipient has no valid encryption key, or a signer no valid signing key.</exception>
    public byte[] Encrypt(ReadOnlySpan<byte> plaintext, IReadOnlyList<Certificate> recipients, EncryptOptions? options = null)
    {
        options ??= new EncryptOptions();
        if (recipients.Count == 0 && options.Passwords.Count == 0)
        {
            throw new ArgumentException("at least one recipient or password is needed", nameof(recipients));
        }

        if (recipients.Count > Options.MaxRecipients)
        {
            throw new LimitExceededException(nameof(OpenPgpOptions.MaxRecipients), Options.MaxRecipients);
        }

        var now = options.Now ?? DateTimeOffset.UtcNow;
        var recipientKeys = new List<PgpPublicKey>();
        var encryptionKeys = new List<PgpPublicKey>();
        foreach (var recipient in recipients)
        {
            var key = recipient.SelectEncryptionKey(now)
                ?? throw new KeyNotUsableException($"certificate {recipient.Fingerprint} has no valid encryption key");
            encryptionKeys.Add(key.PublicKey);
            recipientKeys.Add(recipient.Primary.PublicKey); // intended recipients name primary keys
        }

        var inner = SignedLiteral(plaintext, options.Signers, options.Format, now, recipientKeys, Options.ManagedCryptoThreshold);
        if (options.Passwords.Count == 0 && Curve25519Encryptor.CanEncryptTo(encryptionKeys))
        {
            var fast = Curve25519Encryptor.Encrypt(inner, encryptionKeys, Options.ManagedCryptoThreshold);
            return options.Armor ? OpenPgp.Armor.Encode(fast) : fast;
        }

        // BouncyCastle's path, made only when needed: its SecureRandom seeds itself through OpenSSL, which a
        // short-lived process on the fast path never has to load (docs/PERFORMANCE.md, "Start-up").
        var generator = new PgpEncryptedDataGenerator(SymmetricKeyAlgorithmTag.Aes256, true, KeyGenerator.Random);
        foreach (var key in encryptionKeys)
        {
            generator.AddMethod(key);
        }

        foreach (var password in options.Passwords)
        {
            generator.AddMethodUtf8(password.ToCharArray(), HashAlgorithmTag.Sha256);
        }

        using var output = new MemoryStream(inner.Length + 512);
        using (var encrypted = generator.Open(output, inner.Length))
        {
            encrypted.Write(inner);
        }

        return options.Armor ? OpenPgp.Armor.Encode(output.GetBuffer().AsSpan(0, (int)output.Length)) : output.ToArray();
    }

    /// <summary>
    /// Decrypts strictly and checks inner signatures. The whole plaintext is buffered and released
    /// only after the MDC verified.
    /// </summary>
    /// <exception cref="IntegrityException">No MDC, a bad MDC or a truncated ciphertext.</exception>
    /// <exception cref="NoDecryptionKeyException">No supplied key or password opens the message.</exception>
    /// <exception cref="MalformedInputException">The message is not a well-formed encrypted OpenPGP message.</exception>
    /// <exception cref="LimitExceededException">A limit of <see cref="Options"/> was exceeded.</exception>
    public DecryptionResult Decrypt(ReadOnlyMemory<byte> message, DecryptOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var binary = OpenPgp.Armor.Decode(message, Options);
        var budget = new PacketBudget(Options);
        var (factory, list) = OpenList(binary, budget);
        if (list.Count > Options.MaxRecipients)
        {
            throw new LimitExceededException(nameof(OpenPgpOptions.MaxRecipients), Options.MaxRecipients);
        }

        var (encrypted, stream, usedKey, usedCert, factoryUsed) = OpenSessionKey(binary, factory, list, options);
        factory = factoryUsed;
        byte[] decrypted;
        try
        {
            decrypted = ReadBounded(stream, Options.MaxMessageSize);
        }
        catch (LimitExceededException)
        {
            throw;
        }
        catch (Exception e) when (PacketGuard.IsParserFailure(e) || e is EndOfStreamException)
        {
            throw new IntegrityException("the ciphertext is truncated or corrupt", e);
        }

        bool verified;
        try
        {
            verified = encrypted.Verify();
        }
        catch (Exception e) when (PacketGuard.IsParserFailure(e) || e is EndOfStreamException)
        {
            throw new IntegrityException("the ciphertext is truncated or corrupt", e);
        }

        if (!verified)
        {
            Array.Clear(decrypted);
            throw new IntegrityException("the modification detection code does not verify");
        }

        PacketGuard.Run(() =>
        {
            if (factory.NextPgpObject() is not null)
            {
                throw new MalformedInputException("data follows the encrypted packet");
            }
        });

        var literal = ParseMessage(decrypted, options.Verifiers, budget, depth: 0);
        return new DecryptionResult(literal.Content, usedKey, usedCert, literal.Signatures, literal.Format, literal.FileName);
    }

    /// <summary>Makes detached signatures (one per signer) over <paramref name="data"/>.</summary>
    public byte[] SignDetached(ReadOnlySpan<byte> data, IReadOnlyList<UnlockedKey> signers, SignatureMode mode = SignatureMode.Binary, bool armor = true, DateTimeOffset? now = null)
    {
        if (signers.Count == 0)
        {
            throw new ArgumentException("at least one signer is needed", nameof(signers));
        }

        var at = now ?? DateTimeOffset.UtcNow;
        using var output = new MemoryStream();
        if (Ed25519DocumentSigner.TryCreate(SigningKeys(signers, at), mode, at, [], data.Length <= Options.ManagedCryptoThreshold) is { } fast)
        {
            foreach (var signer in fast)
            {
                signer.Update(data);
                output.Write(signer.SignaturePacket());
            }

            return armor ? OpenPgp.Armor.Encode(output.ToArray()) : output.ToArray();
        }

        foreach (var generator in SignatureGenerators(signers, mode, at, []))
        {
            generator.Update(data);
            generator.Generate().Encode(output);
        }

        return armor ? OpenPgp.Armor.Encode(output.ToArray()) : output.ToArray();
    }

    /// <summary>Checks detached signatures over <paramref name="data"/>.</summary>
    public IReadOnlyList<SignatureVerification> VerifyDetached(ReadOnlySpan<byte> data, ReadOnlyMemory<byte> signatures, IReadOnlyList<Certificate> certificates)
    {
        var binary = OpenPgp.Armor.Decode(signatures, Options);
        var budget = new PacketBudget(Options);
        var list = new List<PgpSignature>();
        PacketGuard.Run(() =>
        {
            var factory = new PgpObjectFactory(binary);
            while (factory.NextPgpObject() is { } obj)
            {
                if (obj is not PgpSignatureList sigs)
                {
                    throw new MalformedInputException("expected signature packets");
                }

                budget.Count(sigs.Count);
                for (var i = 0; i < sigs.Count; i++)
                {
                    list.Add(sigs[i]);
                }
            }
        });
        if (list.Count == 0)
        {
            throw new MalformedInputException("no signature found");
        }

        var bytes = data.ToArray();
        return list.Select(s => Check(s, bytes, certificates)).ToList();
    }

    /// <summary>Makes an inline-signed message: a one-pass signed OpenPGP message, or a cleartext signature.</summary>
    public byte[] SignInline(ReadOnlySpan<byte> data, IReadOnlyList<UnlockedKey> signers, InlineSignStyle style = InlineSignStyle.Binary, bool armor = true, DateTimeOffset? now = null)
    {
        if (signers.Count == 0)
        {
            throw new ArgumentException("at least one signer is needed", nameof(signers));
        }

        var at = now ?? DateTimeOffset.UtcNow;
        if (style == InlineSignStyle.Cleartext)
        {
            return CleartextSignature.Sign(data, SignatureGenerators(signers, SignatureMode.Text, at, []));
        }

        var message = SignedLiteral(data, signers, style == InlineSignStyle.Text ? LiteralFormat.Utf8 : LiteralFormat.Binary, at, [], Options.ManagedCryptoThreshold);
        return armor ? OpenPgp.Armor.Encode(message) : message;
    }

    /// <summary>Verifies an inline-signed message (one-pass signed, old-style signed, or cleartext-signed) and returns its content.</summary>
    public InlineVerificationResult VerifyInline(ReadOnlyMemory<byte> message, IReadOnlyList<Certificate> certificates)
    {
        if (message.Length > Options.MaxMessageSize)
        {
            throw new LimitExceededException(nameof(OpenPgpOptions.MaxMessageSize), Options.MaxMessageSize);
        }

        if (OpenPgp.Armor.Label(message.Span) == "SIGNED MESSAGE")
        {
            var clear = CleartextSignature.Parse(message.Span, Options);
            // Text signatures canonicalise line endings while hashing; SignedText is the rest of the canonical form.
            return new InlineVerificationResult(clear.Text, clear.Signatures.Select(s => Check(s, clear.SignedText, certificates)).ToList());
        }

        var binary = OpenPgp.Armor.Decode(message, Options);
        var literal = ParseMessage(binary, certificates, new PacketBudget(Options), depth: 0);
        if (literal.Signatures.Count == 0)
        {
            throw new MalformedInputException("the message carries no signature");
        }

        return new InlineVerificationResult(literal.Content, literal.Signatures);
    }

    /// <summary>Splits an inline-signed message into its content and (armored or binary) detached signatures.</summary>
    public (byte[] Content, byte[] Signatures) InlineDetach(ReadOnlyMemory<byte> message, bool armor = true)
    {
        List<PgpSignature> signatures;
        byte[] content;
        if (OpenPgp.Armor.Label(message.Span) == "SIGNED MESSAGE")
        {
            var clear = CleartextSignature.Parse(message.Span, Options);
            content = clear.SignedText; // so that a detached text signature over it verifies
            signatures = clear.Signatures;
        }
        else
        {
            var binary = OpenPgp.Armor.Decode(message, Options);
            var literal = ParseMessage(binary, [], new PacketBudget(Options), depth: 0);
            content = literal.Content;
            signatures = literal.RawSignatures;
        }

        if (signatures.Count == 0)
        {
            throw new MalformedInputException("the message carries no signature");
        }

        using var output = new MemoryStream();
        foreach (var s in signatures)
        {
            s.Encode(output);
        }

        return (content, armor ? OpenPgp.Armor.Encode(output.ToArray()) : output.ToArray());
    }

    private static (PgpObjectFactory Factory, PgpEncryptedDataList List) OpenList(byte[] binary, PacketBudget? budget)
    {
        return PacketGuard.Run(() =>
        {
            var factory = new PgpObjectFactory(binary);
            var first = factory.NextPgpObject();
            while (first is PgpMarker)
            {
                budget?.Count();
                first = factory.NextPgpObject();
            }

            var list = first as PgpEncryptedDataList ?? throw new MalformedInputException("not an encrypted OpenPGP message");
            budget?.Count(list.Count + 1);
            return (factory, list);
        });
    }

    private static (PgpEncryptedData Data, Stream Stream, Fingerprint? Key, Fingerprint? Cert, PgpObjectFactory Factory) OpenSessionKey(
        byte[] binary, PgpObjectFactory factory, PgpEncryptedDataList list, DecryptOptions options)
    {
        var candidates = options.Keys.SelectMany(k => k.DecryptionKeys().Select(d => (Owner: k, d.Info, d.Private))).ToList();
        for (var i = 0; i < list.Count; i++)
        {
            if (!list[i].IsIntegrityProtected())
            {
                // Symmetrically Encrypted Data without MDC (tag 9): EFAIL-malleable, never opened.
                throw new IntegrityException("the message has no integrity protection (no MDC)");
            }
        }

        // Each attempt may consume the start of the shared encrypted packet (a wrong password is
        // only detected by the quick check), so every attempt after the first re-parses.
        var fresh = true;
        (PgpObjectFactory, PgpEncryptedDataList) Next()
        {
            if (fresh)
            {
                fresh = false;
                return (factory, list);
            }

            return OpenList(binary, null);
        }

        for (var i = 0; i < list.Count; i++)
        {
            if (list[i] is PgpPublicKeyEncryptedData pk)
            {
                foreach (var (owner, info, privateKey) in candidates)
                {
                    if (pk.KeyId != 0 && pk.KeyId != info.KeyId.AsLong)
                    {
                        continue;
                    }

                    var (f, l) = Next();
                    var item = (PgpPublicKeyEncryptedData)l[i];
                    try
                    {
                        return (item, item.GetDataStream(privateKey), info.Fingerprint, owner.Fingerprint, f);
                    }
                    catch (Exception e) when (PacketGuard.IsParserFailure(e) || e is EndOfStreamException)
                    {
                        if (pk.KeyId != 0)
                        {
                            throw new IntegrityException("the encrypted session key or the ciphertext is corrupt", e);
                        }
                    }
                }
            }
            else if (list[i] is PgpPbeEncryptedData)
            {
                foreach (var password in options.Passwords)
                {
                    var (f, l) = Next();
                    var item = (PgpPbeEncryptedData)l[i];
                    try
                    {
                        return (item, item.GetDataStreamUtf8(password.ToCharArray()), null, null, f);
                    }
                    catch (Exception e) when (PacketGuard.IsParserFailure(e) || e is EndOfStreamException)
                    {
                        // a wrong password fails the quick check; try the next one
                    }
                }
            }
        }

        throw new NoDecryptionKeyException("no supplied key or password can decrypt the message");
    }

    private sealed record LiteralResult(byte[] Content, LiteralFormat Format, string FileName, List<SignatureVerification> Signatures, List<PgpSignature> RawSignatures);

    // OpenPGP Message grammar (RFC 9580, section 10.3), as far as signed/compressed layers go:
    //   Message :- Literal | Compressed(Message) | OnePassSigs Message Signatures | Signatures Message
    // Encrypted layers inside encrypted layers are not accepted (nobody sends them; they hide
    // structure from the integrity and coverage rules).
    private LiteralResult ParseMessage(byte[] data, IReadOnlyList<Certificate> verifiers, PacketBudget budget, int depth)
    {
        if (depth > 8)
        {
            throw new MalformedInputException("too many nested compressed layers");
        }

        return PacketGuard.Run(() =>
        {
            var factory = new PgpObjectFactory(data);
            var first = factory.NextPgpObject() ?? throw new MalformedInputException("empty OpenPGP message");
            budget.Count();
            switch (first)
            {
                case PgpCompressedData compressed:
                {
                    // The ratio is taken against the whole compressed packet: nothing may follow it.
                    var ratioLimit = (long)data.Length * Options.MaxDecompressionRatio;
                    byte[] inflated;
                    if (ratioLimit < Options.MaxMessageSize)
                    {
                        try
                        {
                            inflated = ReadBounded(compressed.GetDataStream(), ratioLimit);
                        }
                        catch (LimitExceededException)
                        {
                            throw new LimitExceededException(nameof(OpenPgpOptions.MaxDecompressionRatio), Options.MaxDecompressionRatio);
                        }
                    }
                    else
                    {
                        inflated = ReadBounded(compressed.GetDataStream(), Options.MaxMessageSize);
                    }

                    ExpectEnd(factory);
                    return ParseMessage(inflated, verifiers, budget, depth + 1);
                }

                case PgpLiteralData literal:
                {
                    var (content, format, name) = ReadLiteral(literal);
                    ExpectEnd(factory);
                    return new LiteralResult(content, format, name, [], []);
                }

                case PgpOnePassSignatureList ops:
                {
                    budget.Count(ops.Count - 1);
                    var next = factory.NextPgpObject();
                    budget.Count();
                    if (next is not PgpLiteralData literal)
                    {
                        throw new MalformedInputException("one-pass signatures must be followed by literal data");
                    }

                    var (content, format, name) = ReadLiteral(literal);
                    if (factory.NextPgpObject() is not PgpSignatureList sigs || sigs.Count != ops.Count)
                    {
                        throw new MalformedInputException("one-pass signatures are not matched by signatures");
                    }

                    budget.Count(sigs.Count);
                    ExpectEnd(factory);
                    var raw = Enumerable.Range(0, sigs.Count).Select(i => sigs[i]).ToList();
                    return new LiteralResult(content, format, name, raw.Select(s => Check(s, content, verifiers)).ToList(), raw);
                }

                case PgpSignatureList prefixed:
                {
                    budget.Count(prefixed.Count - 1);
                    var next = factory.NextPgpObject();
                    budget.Count();
                    if (next is not PgpLiteralData literal)
                    {
                        throw new MalformedInputException("signatures must be followed by literal data");
                    }

                    var (content, format, name) = ReadLiteral(literal);
                    ExpectEnd(factory);
                    var raw = Enumerable.Range(0, prefixed.Count).Select(i => prefixed[i]).ToList();
                    return new LiteralResult(content, format, name, raw.Select(s => Check(s, content, verifiers)).ToList(), raw);
                }

                case PgpEncryptedDataList:
                    throw new MalformedInputException("nested encryption is not accepted");
                default:
                    throw new MalformedInputException("unexpected packet in OpenPGP message");
            }
        });
    }

    private (byte[] Content, LiteralFormat Format, string Name) ReadLiteral(PgpLiteralData literal)
    {
        var content = ReadBounded(literal.GetDataStream(), Options.MaxMessageSize);
        var format = literal.Format is 'b' ? LiteralFormat.Binary : LiteralFormat.Utf8;
        return (content, format, literal.FileName ?? "");
    }

    private static void ExpectEnd(PgpObjectFactory factory)
    {
        if (factory.NextPgpObject() is not null)
        {
            throw new MalformedInputException("unexpected data after the OpenPGP message");
        }
    }

    internal static SignatureVerification Check(PgpSignature signature, byte[] content, IReadOnlyList<Certificate> certificates)
    {
        var created = Certificate.Utc(signature.CreationTime);
        var mode = signature.SignatureType == PgpSignature.CanonicalTextDocument ? SignatureMode.Text : SignatureMode.Binary;
        var issuer = KeyId.From(signature.KeyId);
        if (signature.HasSubpackets && signature.GetHashedSubPackets().GetIssuerFingerprint() is { } fp && fp.GetFingerprint().Length == 20)
        {
            issuer = Fingerprint.FromBytes(fp.GetFingerprint()).KeyId;
        }

        if (signature.SignatureType is not (PgpSignature.BinaryDocument or PgpSignature.CanonicalTextDocument))
        {
            return new SignatureVerification(SignatureStatus.Invalid, null, null, created, mode, "not a document signature") { IssuerKeyId = issuer };
        }

        foreach (var certificate in certificates)
        {
            var key = certificate.FindKey(issuer);
            if (key is null)
            {
                continue;
            }

            bool ok;
            try
            {
                signature.InitVerify(key.PublicKey);
                signature.Update(content);

                ok = signature.Verify();
            }
            catch (Exception e) when (PacketGuard.IsParserFailure(e))
            {
                ok = false;
            }

            string? problem = null;
            if (!ok)
            {
                problem = "the signature does not verify";
            }
            else if (!Certificate.AcceptableHash(signature))
            {
                problem = "the signature uses a weak hash algorithm";
            }
            else if (!key.IsValidAt(created) || (key.Usage & KeyUsage.Sign) == 0 || certificate.GetStatus(created) != CertificateStatus.Valid)
            {
                problem = "the signing key was not valid for signing at the signature's time";
            }
            else if (certificate.IsRevoked || key.RevokedAt is not null)
            {
                problem = "the signing key is revoked";
            }

            return new SignatureVerification(problem is null ? SignatureStatus.Valid : SignatureStatus.Invalid, key.Fingerprint, certificate.Fingerprint, created, mode, problem) { IssuerKeyId = issuer };
        }

        return new SignatureVerification(SignatureStatus.UnknownKey, null, null, created, mode, "no certificate for the signing key") { IssuerKeyId = issuer };
    }

    private static byte[] SignedLiteral(ReadOnlySpan<byte> data, IReadOnlyList<UnlockedKey> signers, LiteralFormat format, DateTimeOffset now, IReadOnlyList<PgpPublicKey> recipients, int managedCryptoThreshold)
    {
        var mode = format == LiteralFormat.Utf8 ? SignatureMode.Text : SignatureMode.Binary;
        if (signers.Count > 0 && Ed25519DocumentSigner.TryCreate(SigningKeys(signers, now), mode, now, recipients, data.Length <= managedCryptoThreshold) is { } fast)
        {
            using var message = new MemoryStream(data.Length + 128 + 160 * fast.Count);
            for (var i = 0; i < fast.Count; i++)
            {
                message.Write(fast[i].OnePassPacket(nested: i < fast.Count - 1));
            }

            WriteLiteral(message, data, format, now);
            for (var i = fast.Count - 1; i >= 0; i--)
            {
                fast[i].Update(data);
                message.Write(fast[i].SignaturePacket());
            }

            return message.ToArray();
        }

        var generators = SignatureGenerators(signers, mode, now, recipients);
        using var inner = new MemoryStream(data.Length + 256 + 200 * generators.Count);
        for (var i = 0; i < generators.Count; i++)
        {
            generators[i].GenerateOnePassVersion(i < generators.Count - 1).Encode(inner);
        }

        WriteLiteral(inner, data, format, now);

        foreach (var g in generators)
        {
            g.Update(data);
        }

        for (var i = generators.Count - 1; i >= 0; i--)
        {
            generators[i].Generate().Encode(inner);
        }

        return inner.ToArray();
    }

    private static void WriteLiteral(Stream output, ReadOnlySpan<byte> data, LiteralFormat format, DateTimeOffset now)
    {
        using var literal = new PgpLiteralDataGenerator().Open(output, format == LiteralFormat.Utf8 ? PgpLiteralData.Utf8 : PgpLiteralData.Binary, "", data.Length, KeyGenerator.Truncate(now).UtcDateTime);
        literal.Write(data);
    }

    private static List<(KeyInfo Info, PgpPrivateKey Private)> SigningKeys(IReadOnlyList<UnlockedKey> signers, DateTimeOffset now) =>
        signers.Select(s => s.SigningKey(now) ?? throw new KeyNotUsableException($"key {s.Fingerprint} has no valid signing key")).ToList();

    private static List<PgpSignatureGenerator> SignatureGenerators(IReadOnlyList<UnlockedKey> signers, SignatureMode mode, DateTimeOffset now, IReadOnlyList<PgpPublicKey> recipients)
    {
        var result = new List<PgpSignatureGenerator>(signers.Count);
        foreach (var signer in signers)
        {
            var (info, privateKey) = signer.SigningKey(now)
                ?? throw new KeyNotUsableException($"key {signer.Fingerprint} has no valid signing key");
            var generator = new PgpSignatureGenerator(info.PublicKey.Algorithm, HashAlgorithmTag.Sha512);
            generator.InitSign(mode == SignatureMode.Text ? PgpSignature.CanonicalTextDocument : PgpSignature.BinaryDocument, privateKey, KeyGenerator.Random);
            var hashed = new PgpSignatureSubpacketGenerator();
            hashed.SetSignatureCreationTime(false, KeyGenerator.Truncate(now).UtcDateTime);
            hashed.SetIssuerFingerprint(false, info.PublicKey);
            foreach (var recipient in recipients)
            {
                // Intended Recipient Fingerprint (RFC 9580, 5.2.3.36): defeats re-encrypting a
                // signed message to someone else (surreptitious forwarding).
                hashed.AddIntendedRecipientFingerprint(false, recipient);
            }

            generator.SetHashedSubpackets(hashed.Generate());
            var unhashed = new PgpSignatureSubpacketGenerator();
            unhashed.SetIssuerKeyID(false, info.PublicKey.KeyId);
            generator.SetUnhashedSubpackets(unhashed.Generate());
            result.Add(generator);
        }

        return result;
    }

    internal static byte[] ReadBounded(Stream stream, long limit)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        long total = 0;
        int read;
        while ((read = stream.Read(chunk, 0, chunk.Length)) > 0)
        {
            total += read;
            if (total > limit)
            {
                throw new LimitExceededException(nameof(OpenPgpOptions.MaxMessageSize), limit);
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private sealed class PacketBudget(OpenPgpOptions options)
    {
        private int _count;

        public void Count(int n = 1)
        {
            _count += n;
            if (_count > options.MaxPacketCount)
            {
                throw new LimitExceededException(nameof(OpenPgpOptions.MaxPacketCount), options.MaxPacketCount);
            }
        }
    }
}
