#!/usr/bin/python3
"""A tiny authoritative DNS server for tests that run inside a private network namespace.

Usage: dns_server.py ZONE.json READY_FILE
ZONE.json maps names to lists of TXT values. Answers TXT queries over UDP and TCP on 127.0.0.1:53,
NXDOMAIN for unknown names, and touches READY_FILE once both sockets are bound.
"""
import json
import socket
import struct
import sys
import threading

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

zone = {k.rstrip('.').lower(): v for k, v in json.load(open(sys.argv[1])).items()}


def answer(wire):
    query = dns.message.from_wire(wire)
    response = dns.message.make_response(query)
    response.flags |= 0x0400  # authoritative
    question = query.question[0]
    name = question.name.to_text().rstrip('.').lower()
    if name not in zone:
        response.set_rcode(dns.rcode.NXDOMAIN)
    elif question.rdtype == dns.rdatatype.TXT:
        texts = []
        for value in zone[name]:
            data = value.encode()
            chunks = [data[i:i + 255] for i in range(0, len(data), 255)]
            texts.append(" ".join('"' + c.decode() + '"' for c in chunks))
        response.answer.append(dns.rrset.from_text_list(question.name, 60, dns.rdataclass.IN, dns.rdatatype.TXT, texts))
    return response.to_wire()


def serve_udp(sock):
    while True:
        data, peer = sock.recvfrom(4096)
        try:
            wire = answer(data)
            if len(wire) > 512:
                response = dns.message.from_wire(wire)
                response.answer = []
                response.flags |= 0x0200  # truncated: ask again over TCP
                wire = response.to_wire()
            sock.sendto(wire, peer)
        except Exception as e:  # keep serving
            print(e, file=sys.stderr)


def serve_tcp_client(conn):
    with conn:
        while True:
            head = conn.recv(2)
            if len(head) < 2:
                return
            (length,) = struct.unpack("!H", head)
            data = b""
            while len(data) < length:
                more = conn.recv(length - len(data))
                if not more:
                    return
                data += more
            wire = answer(data)
            conn.sendall(struct.pack("!H", len(wire)) + wire)


def serve_tcp(sock):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve_tcp_client, args=(conn,), daemon=True).start()


udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 53))
tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("127.0.0.1", 53))
tcp.listen(16)
threading.Thread(target=serve_tcp, args=(tcp,), daemon=True).start()
open(sys.argv[2], "w").close()
serve_udp(udp)
