#!/usr/bin/env python3
"""A second, independent IMAP client: Python's imaplib against `letterlock imap serve`-style servers.

Usage: imaplib_client.py PORT USER PASSWORD
Exits 0 and prints "imaplib: all checks passed" when every check holds; otherwise raises.
"""
import imaplib
import sys
import time

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def ok(result):
    typ, data = result
    assert typ == "OK", (typ, data)
    return data


m = imaplib.IMAP4("127.0.0.1", port)
assert "IMAP4REV2" in m.capabilities and "IDLE" in m.capabilities, m.capabilities
assert "AUTH=PLAIN" in m.capabilities

# A wrong password is refused with NO.
try:
    m.login(user, "wrong")
    raise AssertionError("wrong password accepted")
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e

# AUTHENTICATE PLAIN through the continuation ("+ ") path.
ok(m.authenticate("PLAIN", lambda _: f"\0{user}\0{password}".encode()))

folders = ok(m.list())
assert any(b'"INBOX"' in f or f.endswith(b" INBOX") for f in folders), folders
assert any(b"\\Sent" in f for f in folders), folders

ok(m.create("Python/Lab"))
ok(m.subscribe("Python/Lab"))
assert any(b"Python/Lab" in f for f in ok(m.lsub('""', "Python/*")))

for i in range(3):
    msg = (f"From: Py <py@example.org>\r\nTo: {user}@example.org\r\nSubject: imaplib {i}\r\n"
           f"Date: Tue, 01 Oct 2024 10:00:00 +0000\r\n\r\nline one\r\nsnake number {i}\r\n").encode()
    data = ok(m.append("Python/Lab", "(\\Seen)" if i == 0 else None, imaplib.Time2Internaldate(time.time()), msg))
    assert b"APPENDUID" in data[0], data

count = int(ok(m.select("Python/Lab"))[0])
assert count == 3, count
# IMAP4rev1 \Recent: appended while nobody had the folder selected, so recent to this first SELECT.
assert m.response("RECENT")[1] == [b"3"], m.response("RECENT")
assert ok(m.search(None, "NEW"))[0].split() == [b"2", b"3"]
assert ok(m.search(None, "OLD"))[0] == b""

uids = ok(m.uid("SEARCH", None, "UNSEEN"))[0].split()
assert uids == [b"2", b"3"], uids
assert ok(m.search(None, "SUBJECT", '"imaplib 2"'))[0] == b"3"
assert ok(m.uid("SEARCH", None, "BODY", "snake"))[0].split() == [b"1", b"2", b"3"]

data = ok(m.fetch("2", "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT]<0.8>)"))
header = data[0][1]
assert header == b"Subject: imaplib 1\r\n\r\n", header
assert data[1][1] == b"line one", data
assert b"UID 2" in data[0][0] and b"FLAGS (\\Recent)" in data[0][0], data[0][0]

# BODY[] without PEEK sets \Seen.
ok(m.fetch("3", "(BODY[])"))
assert b"\\Seen" in ok(m.fetch("3", "(FLAGS)"))[0]

data = ok(m.store("1:2", "+FLAGS", "(\\Flagged $Important)"))
assert all(b"\\Flagged" in d for d in data), data
ok(m.copy("1", "INBOX"))
typ, data = m.uid("MOVE", "3", "Trash")
assert typ == "OK", (typ, data)

ok(m.store("1", "+FLAGS.SILENT", "(\\Deleted)"))
ok(m.expunge())
status = ok(m.status("Python/Lab", "(MESSAGES UIDNEXT UNSEEN)"))[0]
assert b"MESSAGES 1" in status and b"UIDNEXT 4" in status, status

# A malformed command gets BAD and the session goes on.
try:
    m._simple_command("CHECK", "bogus-argument")
    raise AssertionError("malformed command accepted")
except imaplib.IMAP4.error as e:
    assert "CLIENTBUG" in str(e), e
ok(m.noop())

ok(m.close())
assert m.logout()[0] == "BYE"
print("imaplib: all checks passed")
