#!/usr/bin/env python3
"""A tiny DNS server for tests: answers, delays or ignores each question by its name.

    dns_server.py ADDRESS [RULE ...]

RULE is NAME=ACTION, where NAME is a question name (a PTR name such as
3.0.0.127.in-addr.arpa, or a host name for its A question) and ACTION one of:

    ptr:HOST          answer the PTR question with HOST ("{}" in HOST stands for the
                      question's first label: one name per address)
    a:IP              answer the A question with IP
    hang              never answer (the reverse zone of a hostile client)
    delay:SECONDS:A   wait SECONDS, then do action A (ptr:HOST, a:IP or nx)
    nx                NXDOMAIN
    truncated         over UDP an empty answer marked truncated (the resolver must ask again
                      over TCP); over TCP, never answer

A rule's NAME may start with "*." to match every name below it. A name with no rule
gets NXDOMAIN. The server listens on ADDRESS port 53, UDP and TCP,
prints "ready" once bound, and "q TYPE NAME" for every question it gets ("q TYPE NAME tcp"
over TCP; stdout, line buffered), so a test can see which lookups reached it.
"""
import socket
import struct
import sys
import threading
import time

TYPES = {1: "A", 12: "PTR", 28: "AAAA"}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def parse_question(packet):
    """The id, flags, question name, type and the question's bytes."""
    qid, flags = struct.unpack("!HH", packet[:4])
    pos = 12
    labels = []
    while packet[pos] != 0:
        n = packet[pos]
        labels.append(packet[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    pos += 1
    qtype, _qclass = struct.unpack("!HH", packet[pos:pos + 4])
    return qid, flags, ".".join(labels).lower(), qtype, packet[12:pos + 4]


def response(packet, rcode, answers):
    qid, flags, _name, _qtype, question = parse_question(packet)
    rd = flags & 0x0100
    header = struct.pack("!HHHHHH", qid, 0x8000 | 0x0400 | rd | 0x0080 | rcode, 1, len(answers), 0, 0)
    body = b""
    for qtype, rdata in answers:
        body += b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, 60, len(rdata)) + rdata
    return header + question + body


def truncated(packet):
    out = bytearray(response(packet, 0, []))
    out[2] |= 0x02
    return bytes(out)


def answer_for(rules, packet, tcp=False):
    """The reply to one question, or None to stay silent; may sleep first."""
    try:
        _qid, _flags, name, qtype, _q = parse_question(packet)
    except Exception:
        return None
    print("q %s %s%s" % (TYPES.get(qtype, qtype), name, " tcp" if tcp else ""), flush=True)
    action = rules.get(name)
    if action is None:
        action = next((a for n, a in rules.items() if n.startswith("*.") and name.endswith(n[1:])), "nx")
    while action.startswith("delay:"):
        _, seconds, action = action.split(":", 2)
        time.sleep(float(seconds))
    if action == "truncated":
        return None if tcp else truncated(packet)
    if action == "hang":
        return None
    if action.startswith("ptr:") and qtype == 12:
        return response(packet, 0, [(12, encode_name(action[4:].replace("{}", name.split(".")[0])))])
    if action.startswith("a:") and qtype == 1:
        return response(packet, 0, [(1, socket.inet_aton(action[2:]))])
    if action.startswith(("ptr:", "a:")):
        return response(packet, 0, [])
    return response(packet, 3, [])


def serve_udp(sock, rules):
    while True:
        packet, peer = sock.recvfrom(4096)

        def reply(packet=packet, peer=peer):
            out = answer_for(rules, packet)
            if out is not None:
                sock.sendto(out, peer)

        threading.Thread(target=reply, daemon=True).start()


def serve_tcp_client(conn, rules):
    with conn:
        try:
            while True:
                head = conn.recv(2)
                if len(head) < 2:
                    return
                (n,) = struct.unpack("!H", head)
                packet = b""
                while len(packet) < n:
                    more = conn.recv(n - len(packet))
                    if not more:
                        return
                    packet += more
                out = answer_for(rules, packet, tcp=True)
                if out is None:
                    time.sleep(3600)
                    return
                conn.sendall(struct.pack("!H", len(out)) + out)
        except OSError:
            return


def serve_tcp(sock, rules):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve_tcp_client, args=(conn, rules), daemon=True).start()


def main():
    address = sys.argv[1]
    rules = {}
    for arg in sys.argv[2:]:
        name, action = arg.split("=", 1)
        rules[name.lower().rstrip(".")] = action
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((address, 53))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((address, 53))
    tcp.listen(64)
    threading.Thread(target=serve_tcp, args=(tcp, rules), daemon=True).start()
    print("ready", flush=True)
    serve_udp(udp, rules)


if __name__ == "__main__":
    main()
