#!/usr/bin/env python3
"""A small Redis Streams client for bench-bus.sh: RESP over a Unix socket.

redis-streams.py SOCKET produce N PAYLOAD_FILE: XADD N payloads, 100
  commands per round trip.
redis-streams.py SOCKET consume N: XREADGROUP 100 at a time as a member of
  group g and XACK each batch before reading the next, until N are acked.
Prints the seconds taken.
"""
import socket
import sys
import time


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Reader:
    def __init__(self, sock):
        self.file = sock.makefile("rb", buffering=1 << 16)

    def reply(self):
        line = self.file.readline()
        kind, rest = line[:1], line[1:-2]
        if kind in (b"+", b":"):
            return rest
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.file.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)


def produce(sock, reader, n, payloads):
    sent = 0
    while sent < n:
        batch = payloads[sent:sent + 100]
        sock.sendall(b"".join(encode("XADD", "bench", "*", "payload", p)
                              for p in batch))
        for _ in batch:
            reader.reply()
        sent += len(batch)


def consume(sock, reader, n):
    sock.sendall(encode("XGROUP", "CREATE", "bench", "g", "0"))
    reader.reply()
    acked = 0
    while acked < n:
        sock.sendall(encode("XREADGROUP", "GROUP", "g", "c", "COUNT", 100,
                            "STREAMS", "bench", ">"))
        streams = reader.reply()
        if not streams:
            break
        ids = [entry[0] for entry in streams[0][1]]
        sock.sendall(encode("XACK", "bench", "g", *ids))
        reader.reply()
        acked += len(ids)


def main():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(sys.argv[1])
    reader = Reader(sock)
    n = int(sys.argv[3])
    start = time.monotonic()
    if sys.argv[2] == "produce":
        with open(sys.argv[4], "rb") as f:
            payloads = [line.rstrip(b"\n") for line in f][:n]
        start = time.monotonic()
        produce(sock, reader, n, payloads)
    else:
        consume(sock, reader, n)
    print("%.3f" % (time.monotonic() - start))


main()
