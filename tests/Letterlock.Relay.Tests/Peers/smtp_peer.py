#!/usr/bin/python3
"""A minimal SMTP peer on a raw socket, written independently of Letterlock's engine and of MailKit, so tests can
watch exactly what the other side does on the wire.

server DIR: reads DIR/config.json ({"caps": ["STARTTLS", "8BITMIME", "CHUNKING", ...], "cert": PEM, "key": PEM,
            "refuse": {"address": "550 5.1.1 No such user"}}), listens on 127.0.0.1, writes its port to DIR/port and
            appends one JSON object per event to DIR/log.jsonl: the peer's address, every command line, every message
            and how each session ended ("tls-close-notify" when the client ended TLS with close_notify before closing,
            "tls-eof-without-close-notify" when it just closed the connection, "tcp-eof" without TLS).
client HOST PORT: EHLO, STARTTLS, EHLO, QUIT against a server and prints how the server ended TLS (same words).
"""
import base64
import json
import os
import socket
import ssl
import sys
import threading

lock = threading.Lock()


class Lines:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError()
        self.buffer += data

    def line(self):
        while b"\r\n" not in self.buffer:
            self.recv()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def exactly(self, count):
        while len(self.buffer) < count:
            self.recv()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def dot_content(self):
        while b"\r\n.\r\n" not in b"\r\n" + self.buffer:
            self.recv()
        if self.buffer.startswith(b".\r\n"):
            self.buffer = self.buffer[3:]
            return b""
        data, self.buffer = self.buffer.split(b"\r\n.\r\n", 1)
        lines = (data + b"\r\n").split(b"\r\n")[:-1]
        return b"".join((l[1:] if l.startswith(b".") else l) + b"\r\n" for l in lines)


def how_it_ended(sock, secure):
    """Reads until the other side ends the stream and says how it did."""
    try:
        while sock.recv(65536):
            pass
        return "tls-close-notify" if secure else "tcp-eof"
    except ssl.SSLEOFError:
        return "tls-eof-without-close-notify"
    except (ssl.SSLError, OSError) as e:
        return "error: " + type(e).__name__


def log(directory, event):
    with lock, open(os.path.join(directory, "log.jsonl"), "a") as f:
        f.write(json.dumps(event) + "\n")


def session(directory, config, sock, number):
    peer = sock.getpeername()[0]
    log(directory, {"session": number, "event": "connect", "peer": peer})
    caps = config.get("caps", [])
    refuse = config.get("refuse", {})
    secure = False
    lines = Lines(sock)

    def send(text):
        lines.sock.sendall(text.encode() + b"\r\n")

    send("220 peer.test ESMTP raw peer")
    chunks = []
    try:
        while True:
            line = lines.line()
            log(directory, {"session": number, "event": "command", "line": line})
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                offered = [c for c in caps if not (secure and c == "STARTTLS")]
                replies = ["peer.test"] + offered
                send("\r\n".join(("250-" if i < len(replies) - 1 else "250 ") + r for i, r in enumerate(replies)))
            elif verb == "STARTTLS" and "STARTTLS" in caps and not secure:
                send("220 2.0.0 Ready")
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(config["cert"], config["key"])
                lines = Lines(context.wrap_socket(lines.sock, server_side=True, suppress_ragged_eofs=False))
                secure = True
            elif verb == "MAIL":
                chunks = []
                send("250 2.1.0 Ok")
            elif verb == "RCPT":
                address = line[line.index("<") + 1:line.rindex(">")]
                send(refuse.get(address, "250 2.1.5 Ok"))
            elif verb == "DATA":
                send("354 Go ahead")
                data = lines.dot_content()
                log(directory, {"session": number, "event": "message", "via": "DATA", "data": base64.b64encode(data).decode()})
                send("250 2.0.0 Ok")
            elif verb == "BDAT" and "CHUNKING" in caps:
                parts = line.split()
                chunks.append(lines.exactly(int(parts[1])))
                if len(parts) > 2 and parts[2].upper() == "LAST":
                    data = b"".join(chunks)
                    log(directory, {"session": number, "event": "message", "via": "BDAT", "data": base64.b64encode(data).decode()})
                    send("250 2.0.0 Ok")
                else:
                    send("250 2.0.0 Chunk ok")
            elif verb in ("RSET", "NOOP"):
                chunks = []
                send("250 2.0.0 Ok")
            elif verb == "QUIT":
                send("221 2.0.0 Bye")
                how = how_it_ended(lines.sock, secure)
                log(directory, {"session": number, "event": "end", "after": "QUIT", "how": how})
                if how == "tls-close-notify":
                    try:
                        lines.sock.unwrap()
                    except (ssl.SSLError, OSError):
                        pass
                return
            else:
                send("502 5.5.1 Not implemented")
    except EOFError:
        log(directory, {"session": number, "event": "end", "after": "no QUIT", "how": "tcp-eof"})
    except ssl.SSLEOFError:
        log(directory, {"session": number, "event": "end", "after": "no QUIT", "how": "tls-eof-without-close-notify"})
    except (ssl.SSLError, OSError) as e:
        log(directory, {"session": number, "event": "end", "after": "no QUIT", "how": "error: " + type(e).__name__})
    finally:
        lines.sock.close()


def server(directory):
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    with open(os.path.join(directory, "port.tmp"), "w") as f:
        f.write(str(listener.getsockname()[1]))
    os.rename(os.path.join(directory, "port.tmp"), os.path.join(directory, "port"))
    number = 0
    while True:
        sock, _ = listener.accept()
        number += 1
        threading.Thread(target=session, args=(directory, config, sock, number), daemon=True).start()


def client(host, port):
    sock = socket.create_connection((host, port), timeout=60)
    lines = Lines(sock)

    def reply():
        while True:
            line = lines.line()
            if line[3:4] != "-":
                return line

    def command(text):
        lines.sock.sendall(text.encode() + b"\r\n")
        return reply()

    reply()
    command("EHLO client.test")
    if not command("STARTTLS").startswith("220"):
        print(json.dumps({"how": "no STARTTLS"}))
        return
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    lines = Lines(context.wrap_socket(sock, server_hostname=host, suppress_ragged_eofs=False))
    command("EHLO client.test")
    quit_reply = command("QUIT")
    how = how_it_ended(lines.sock, True)
    if how == "tls-close-notify":
        try:
            lines.sock.unwrap()
        except (ssl.SSLError, OSError):
            pass
    print(json.dumps({"quit": quit_reply, "how": how}))


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(sys.argv[2])
    else:
        client(sys.argv[2], int(sys.argv[3]))
