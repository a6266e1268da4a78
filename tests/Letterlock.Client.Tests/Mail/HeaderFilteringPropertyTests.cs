using System.Text;
using CsCheck;
using Letterlock.Client.Mail;
using MimeKit;

namespace Letterlock.Client.Tests.Mail;

/// <summary>
/// Properties of the indicator filter (<see cref="SecurityHeaders.IsIndicatorLike"/>, <see cref="SecurityHeaders.Strip"/>),
/// which reads header fields any sender writes: every spelling a reader could take for <c>Letterlock-*</c> (case,
/// the ASCII confusables of UTS #39, punctuation anywhere, any character outside RFC 5322 ftext) is caught; a field
/// name whose skeleton does not start with <c>letterlock</c> is kept; and in a message of any shape (nested
/// multiparts, attached messages plain or transfer-encoded, header-only parts) every forged field is removed, the
/// count is exact, and every other field survives.
/// </summary>
public sealed class HeaderFilteringPropertyTests
{
    /// <summary>ftext characters (RFC 5322, 3.6.8) that are neither letters nor digits: the skeleton drops them.</summary>
    private const string Punctuation = "!#$%&'*+-./=?^_`{}~\"";

    /// <summary>What each letter of "letterlock" may be written as and still read as that letter (UTS #39 skeletons).</summary>
    private static Gen<string> LookAlike(char c) => c switch
    {
        'l' => Gen.OneOf("l", "L", "1", "I", "|"),
        'o' => Gen.OneOf("o", "O", "0"),
        _ => Gen.OneOf(c.ToString(), char.ToUpperInvariant(c).ToString()),
    };

    /// <summary>"letterlock" spelled with look-alikes, punctuation between any letters, then any ftext suffix.</summary>
    private static readonly Gen<string> AsciiForgery =
        Gen.Select(
            "letterlock".Select(c => Gen.Select(LookAlike(c), Gen.String[Gen.Char[Punctuation], 0, 2], (letter, gap) => letter + gap)).ToArray()
                .Aggregate(Gen.Const(""), (name, letter) => Gen.Select(name, letter, (a, b) => a + b)),
            Gen.String[Gen.Char['!', '~'].Where(c => c != ':'), 0, 12],
            (name, suffix) => name + suffix);

    /// <summary>A forgery with a character outside ftext (a Unicode look-alike, a space, a control) somewhere in it.</summary>
    private static readonly Gen<string> NonFtextForgery =
        Gen.Select(AsciiForgery, Gen.Char['\u0080', '\uFFFD'].Where(c => !char.IsSurrogate(c)), Gen.Int[0, 100],
            (name, odd, at) => name.Insert(at % (name.Length + 1), odd.ToString()));

    /// <summary>A field name whose first character is a letter or digit that reads as something other than "l".</summary>
    private static readonly Gen<string> OrdinaryName =
        Gen.Select(Gen.Char["abcdefghijkmnopqrstuvwxyzABCDEFGHJKMNOPQRSTUVWXYZ023456789"], Gen.String[Gen.Char['!', '~'].Where(c => c != ':'), 0, 20],
            (first, rest) => first + rest);

    [Fact]
    public void Every_spelling_of_an_indicator_is_caught()
    {
        AsciiForgery.Sample(name => Assert.True(SecurityHeaders.IsIndicatorLike(name), name));
        NonFtextForgery.Sample(name => Assert.True(SecurityHeaders.IsIndicatorLike(name), name));
    }

    [Fact]
    public void A_name_that_does_not_read_as_letterlock_is_kept()
    {
        OrdinaryName.Sample(name => Assert.False(SecurityHeaders.IsIndicatorLike(name), name));
        foreach (string name in new[] { "From", "To", "Subject", "DKIM-Signature", "Authentication-Results", "X-Letterlock", "Autocrypt", "Lettering" })
        {
            Assert.False(SecurityHeaders.IsIndicatorLike(name), name);
        }
    }

    /// <summary>A MIME entity to build: its kind, the forged and ordinary fields it carries, its children.</summary>
    private sealed record Node(Kind Kind, string[] Forged, int Ordinary, Node[] Children);

    private enum Kind
    {
        Text,
        Multipart,
        Attached,
        EncodedAttached,
        HeaderBlock,
    }

    private static readonly Gen<string[]> Forgeries = AsciiForgery.Select(name => name.TrimEnd('\t', ' ')).Where(name => name.Length > 0).Array[0, 2];

    private static Gen<Node> Tree(int depth) => depth == 0
        ? Gen.Select(Gen.OneOf(Kind.Text, Kind.HeaderBlock), Forgeries, Gen.Int[0, 2], (kind, forged, ordinary) => new Node(kind, forged, ordinary, []))
        : Gen.Select(Gen.Enum<Kind>(), Forgeries, Gen.Int[0, 2]).SelectMany(p => p.Item1 switch
        {
            Kind.Multipart => Tree(depth - 1).Array[1, 3].Select(children => new Node(p.Item1, p.Item2, p.Item3, children)),
            Kind.Attached or Kind.EncodedAttached => Tree(depth - 1).Select(child => new Node(p.Item1, p.Item2, p.Item3, [child])),
            _ => Gen.Const(new Node(p.Item1, p.Item2, p.Item3, [])),
        });

    [Fact]
    public void In_a_message_of_any_shape_every_forged_field_goes_and_every_other_field_stays()
    {
        Gen.Select(Tree(3), Forgeries, Gen.Int[0, 2]).Sample(p =>
        {
            var (body, topForged, topOrdinary) = p;
            byte[] wire = Write(Message(topForged, topOrdinary, body));
            var parsed = MimeMessage.Load(new MemoryStream(wire));
            var before = Fields(parsed);
            int planted = topForged.Length + Count(body, n => n.Forged.Length);
            Assert.True(planted == before.Count(SecurityHeaders.IsIndicatorLike), Encoding.ASCII.GetString(wire));

            Assert.Equal(planted, SecurityHeaders.Strip(parsed));

            var after = Fields(MimeMessage.Load(new MemoryStream(Write(parsed))));
            Assert.DoesNotContain(after, SecurityHeaders.IsIndicatorLike);
            Assert.Equal(topOrdinary + Count(body, n => n.Ordinary), after.Count(f => f.StartsWith("X-Ordinary-", StringComparison.Ordinal)));
            Assert.Equal(before.Where(f => !SecurityHeaders.IsIndicatorLike(f)).Order(StringComparer.Ordinal), after.Order(StringComparer.Ordinal));
        });
    }

    [Fact]
    public void A_message_without_forgeries_is_kept_byte_for_byte()
    {
        Tree(3).Select(body => Write(Message([], 1, Clean(body)))).Sample(wire =>
            Assert.True(SecurityHeaders.WithoutIndicators(wire).Span.SequenceEqual(wire)));
    }

    private static Node Clean(Node node) => node with { Forged = [], Children = node.Children.Select(Clean).ToArray() };

    private static int Count(Node node, Func<Node, int> what) => what(node) + node.Children.Sum(c => Count(c, what));

    private static MimeMessage Message(string[] forged, int ordinary, Node body)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("mallory@example.test"));
        message.To.Add(MailboxAddress.Parse("alice@example.test"));
        message.Subject = "shape";
        AddFields(message.Headers, forged, ordinary);
        message.Body = Entity(body);
        return message;
    }

    private static void AddFields(HeaderList headers, string[] forged, int ordinary)
    {
        foreach (string name in forged)
        {
            headers.Add(new Header(Encoding.ASCII, name, "valid; trust=verified"));
        }

        for (int i = 0; i < ordinary; i++)
        {
            headers.Add("X-Ordinary-" + i, "kept");
        }
    }

    private static MimeEntity Entity(Node node)
    {
        MimeEntity entity;
        switch (node.Kind)
        {
            case Kind.Multipart:
                var multipart = new Multipart("mixed");
                foreach (var child in node.Children)
                {
                    multipart.Add(Entity(child));
                }

                entity = multipart;
                break;
            case Kind.Attached:
                entity = new MessagePart { Message = Message(node.Forged, node.Ordinary, node.Children[0]) };
                return entity; // the fields belong to the attached message, not the part
            case Kind.EncodedAttached:
                entity = new MimePart("message", "rfc822")
                {
                    Content = new MimeContent(new MemoryStream(Write(Message(node.Forged, node.Ordinary, node.Children[0])))),
                    ContentTransferEncoding = ContentEncoding.Base64,
                };
                return entity;
            case Kind.HeaderBlock:
                var block = new HeaderList();
                AddFields(block, node.Forged, node.Ordinary);
                using (var bytes = new MemoryStream())
                {
                    block.WriteTo(bytes);
                    entity = new MimePart("text", "rfc822-headers") { Content = new MimeContent(new MemoryStream(bytes.ToArray())) };
                }

                return entity;
            default:
                entity = new TextPart("plain") { Text = "text" };
                break;
        }

        AddFields(entity.Headers, node.Forged, node.Ordinary);
        return entity;
    }

    private static byte[] Write(MimeMessage message)
    {
        using var output = new MemoryStream();
        message.WriteTo(new FormatOptions { NewLineFormat = NewLineFormat.Dos }, output);
        return output.ToArray();
    }

    /// <summary>Every field name a mail app could render: of the message, each part, each attached message (decoded too) and each header-only part.</summary>
    private static List<string> Fields(MimeMessage message)
    {
        var names = message.Headers.Select(h => h.Field).ToList();
        if (message.Body is { } body)
        {
            Walk(body, names);
        }

        return names;
    }

    private static void Walk(MimeEntity entity, List<string> names)
    {
        switch (entity)
        {
            case Multipart multipart:
                names.AddRange(multipart.Headers.Select(h => h.Field));
                foreach (var child in multipart)
                {
                    Walk(child, names);
                }

                break;
            case MessagePart { Message: { } attached }:
                names.AddRange(Fields(attached));
                break;
            case MimePart part when part.ContentType.IsMimeType("message", "rfc822"):
                names.AddRange(Fields(MimeMessage.Load(Decoded(part))));
                break;
            case MimePart part when part.ContentType.IsMimeType("text", "rfc822-headers"):
                names.AddRange(HeaderList.Load(Decoded(part)).Select(h => h.Field));
                break;
            default:
                names.AddRange(entity.Headers.Select(h => h.Field));
                break;
        }
    }

    private static MemoryStream Decoded(MimePart part)
    {
        var decoded = new MemoryStream();
        part.Content!.DecodeTo(decoded);
        decoded.Position = 0;
        return decoded;
    }
}
