#!/usr/bin/env python3
"""Regenerates the wire fixtures of appliance/udpcast/tests/fixtures/ from
Debian's own udpcast: `udp-sender` and two `udp-receiver`s on a namespaced
bridge (mcnet.Lan), `tcpdump` on the sender's interface. The input files
are a deterministic pattern (pattern() below, reproduced by the Rust
tests), so the tests can recompute DATA payloads and FEC blocks.

Fixture format, one datagram per line (after '#' comments):
    <S|R> <src ip>:<port> <dst ip>:<port> <udp payload length> <hex>
S = sent by udp-sender, R = sent by a udp-receiver. The hex is the whole
payload, except for DATA blocks of the FEC captures, cut to their 16-byte
header (the payload is the pattern).

Usage: capture_fixtures.py OUTDIR   (root; udpcast, tcpdump, nftables)
"""

import os
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcnet  # noqa: E402
from transfer import RECEIVER  # noqa: E402


def pattern(n, seed=1):
    """LCG bytes: x = x * 1103515245 + 12345 (mod 2^32), byte = x >> 16."""
    out = bytearray(n)
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        out[i] = (x >> 16) & 0xFF
    return bytes(out)


def packets(path):
    d = open(path, "rb").read()
    magic = struct.unpack("<I", d[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    link = struct.unpack(end + "I", d[20:24])[0]
    off = 24
    while off + 16 <= len(d):
        _, _, incl, _ = struct.unpack(end + "IIII", d[off:off + 16])
        off += 16
        pkt = d[off:off + incl]
        off += incl
        if link == 1:
            if struct.unpack(">H", pkt[12:14])[0] != 0x0800:
                continue
            ip = pkt[14:]
        else:
            ip = pkt
        if ip[9] != 17:
            continue
        ihl = (ip[0] & 15) * 4
        src, dst = ".".join(map(str, ip[12:16])), ".".join(map(str, ip[16:20]))
        sp, dp, ulen = struct.unpack(">HHH", ip[ihl:ihl + 6])
        yield src, sp, dst, dp, ip[ihl + 8:ihl + ulen]


def capture(out, name, size, sender_args, comment, keyboard=False, drop=None, cut_data=False):
    work = tempfile.mkdtemp(prefix="bbmc-cap-")
    image = os.path.join(work, "in")
    with open(image, "wb") as f:
        f.write(pattern(size))
    pcap = os.path.join(work, "cap.pcap")
    with mcnet.Lan(2) as lan:
        if drop is not None:
            # Deterministic loss: receiver 1 misses its drop-th datagram to port 9000.
            rules = ("table netdev bbmcdrop {\n  chain in { type filter hook ingress device \"eth0\" priority 0; "
                     f"udp dport 9000 numgen inc mod 1000000 == {drop} drop; }}\n}}\n")
            subprocess.run(["ip", "netns", "exec", lan.receivers[0], "nft", "-f", "-"], input=rules,
                           text=True, check=True)
        td = lan.popen(lan.sender, ["tcpdump", "-i", "eth0", "-s", "0", "-U", "-w", pcap, "udp"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        outs, rcv = [], []
        for i in (1, 2):
            o = os.path.join(work, f"out{i}")
            outs.append(o)
            argv = [RECEIVER, "--nosync", "--interface", "eth0", "--portbase", "9000", "--file", o]
            kb = keyboard and i == 1
            if not kb:
                argv.insert(2, "--nokbd")
            p = lan.popen(lan.receivers[i - 1], argv, stdin=subprocess.PIPE if kb else subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            rcv.append(p)
        time.sleep(0.5)
        snd = lan.popen(lan.sender, ["udp-sender", "--interface", "eth0", "--portbase", "9000", "--file", image,
                                     "--nokbd", *sender_args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if keyboard:
            time.sleep(1.0)
            rcv[0].stdin.write(b"\n")
            rcv[0].stdin.flush()
        snd.wait(30)
        for p in rcv:
            p.wait(30)
        time.sleep(1.0)
        lan.kill(td, 15)
        td.wait(5)
        for o in outs:
            if open(o, "rb").read() != open(image, "rb").read():
                raise RuntimeError(f"{name}: receiver output differs")
    lines = [f"# {comment}",
             f"# input: pattern({size}) (LCG, see capture_fixtures.py); sender: udp-sender {' '.join(sender_args)}",
             "# <S|R> <src> <dst> <udp payload length> <hex>"]
    for src, sp, dst, dp, payload in packets(pcap):
        who = "S" if sp == 9001 else "R"
        body = payload
        if cut_data and payload[:2] == b"\x00\x08":
            body = payload[:16]
        lines.append(f"{who} {src}:{sp} {dst}:{dp} {len(payload)} {body.hex()}")
    with open(os.path.join(out, f"{name}.hex"), "w") as f:
        f.write("\n".join(lines) + "\n")
    subprocess.run(["rm", "-rf", work])
    print(f"{name}: {len(lines) - 3} datagrams")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    capture(out, "session", 4000, ["--min-receivers", "2"],
            "two receivers, 4000 bytes: HELLO, CONNECT_REQ/REPLY, DATA, REQACK, OK, end, DISCONNECT")
    capture(out, "retransmit", 30000, ["--min-receivers", "2"],
            "two receivers, receiver 1 misses one datagram: RETRANSMIT and the resent block", drop=6)
    capture(out, "go", 3000, [], "no start rule: receiver 1's keypress sends GO", keyboard=True)
    capture(out, "fec-2x2-4", 5000, ["--min-receivers", "2", "--fec", "2x2/4", "--blocksize", "256"],
            "FEC 2 stripes x 2 redundancy / 4 blocks, block size 256", cut_data=True)
    capture(out, "fec-3x4-20", 16000, ["--min-receivers", "2", "--fec", "3x4/20", "--blocksize", "128"],
            "FEC 3 stripes x 4 redundancy / 20 blocks, block size 128", cut_data=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
