#!/usr/bin/env python3
"""TFTP benchmark driver; called by scripts/bench/tftp inside its network
namespace, with all three servers already running on 127.0.0.1.

    tftp.py ROOT RUNS REPORT NAME=PORT [NAME=PORT ...]

Contains a small RFC 1350/2347/2348/7440 client (lock-step or windowed),
times single downloads with it and 50 concurrent curl downloads, checks every
download's SHA-256, and rewrites the "tftp" section of REPORT
(docs/benchmarks.md) between <!-- tftp:begin --> and <!-- tftp:end -->.
"""

import hashlib
import os
import platform
import re
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
BLKSIZE = 1468
CONCURRENT = 50


class TftpFailed(Exception):
    pass


def rrq(name, options):
    pkt = struct.pack("!H", 1) + name.encode() + b"\0octet\0"
    for k, v in options.items():
        pkt += k.encode() + b"\0" + str(v).encode() + b"\0"
    return pkt


def download(port, name, blksize=BLKSIZE, windowsize=1, timeout=2.0, retries=5):
    """Downloads `name`; returns (sha256 hex, bytes, negotiated windowsize).

    Receiver side of RFC 7440: ACK every `windowsize` in-order blocks and the
    last one; on an out-of-order block ACK the last in-order one. Block
    numbers wrap 65535 -> 0.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.settimeout(timeout)
    opts = {"blksize": blksize, "tsize": 0}
    if windowsize > 1:
        opts["windowsize"] = windowsize
    request = rrq(name, opts)
    sock.sendto(request, (HOST, port))
    buf = bytearray(65536 + 4)
    view = memoryview(buf)
    digest = hashlib.sha256()
    total = 0
    peer = None
    bs, ws = 512, 1
    expected = 1
    in_window = 0
    last_ack = None
    silent = 0
    try:
        while True:
            try:
                n, addr = sock.recvfrom_into(buf)
            except socket.timeout:
                silent += 1
                if silent > retries:
                    raise TftpFailed(f"{name}: server silent")
                if peer is None:
                    sock.sendto(request, (HOST, port))
                elif last_ack is not None:
                    sock.sendto(last_ack, peer)
                continue
            silent = 0
            if peer is None:
                peer = addr
            elif addr != peer:
                continue
            op = (buf[0] << 8) | buf[1]
            if op == 6 and expected == 1 and total == 0:  # OACK
                fields = bytes(buf[2:n]).split(b"\0")
                for k, v in zip(fields[0::2], fields[1::2]):
                    if k.lower() == b"blksize":
                        bs = int(v)
                    elif k.lower() == b"windowsize":
                        ws = int(v)
                last_ack = struct.pack("!HH", 4, 0)
                sock.sendto(last_ack, peer)
            elif op == 3:
                block = (buf[2] << 8) | buf[3]
                if block == expected & 0xFFFF:
                    size = n - 4
                    digest.update(view[4:n])
                    total += size
                    in_window += 1
                    final = size < bs
                    if in_window >= ws or final:
                        last_ack = struct.pack("!HH", 4, block)
                        sock.sendto(last_ack, peer)
                        in_window = 0
                    if final:
                        return digest.hexdigest(), total, ws
                    expected += 1
                else:
                    last_ack = struct.pack("!HH", 4, (expected - 1) & 0xFFFF)
                    sock.sendto(last_ack, peer)
                    in_window = 0
            elif op == 5:
                code = (buf[2] << 8) | buf[3]
                message = bytes(buf[4:n]).rstrip(b"\0").decode(errors="replace")
                raise TftpFailed(f"{name}: server error {code}: {message}")
    finally:
        sock.close()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def wait_ready(port, name, deadline_s=15):
    end = time.monotonic() + deadline_s
    while True:
        try:
            download(port, name, timeout=0.3, retries=1)
            return
        except (TftpFailed, OSError):
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def timed_single(port, name, expect, windowsize):
    start = time.perf_counter()
    digest, size, ws = download(port, name, windowsize=windowsize)
    elapsed = time.perf_counter() - start
    if digest != expect:
        raise TftpFailed(f"{name}: content differs")
    return size / elapsed, ws


def timed_concurrent(port, name, expect, size, out_dir):
    outs = [os.path.join(out_dir, f"c{i}") for i in range(CONCURRENT)]
    for o in outs:
        if os.path.exists(o):
            os.unlink(o)
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            ["curl", "-s", "--max-time", "120", "--tftp-blksize", str(BLKSIZE), "-o", o, f"tftp://{HOST}:{port}/{name}"],
            stdin=subprocess.DEVNULL,
        )
        for o in outs
    ]
    codes = []
    try:
        for p in procs:
            codes.append(p.wait())
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    elapsed = time.perf_counter() - start
    bad = [c for c in codes if c != 0]
    if bad:
        raise TftpFailed(f"{len(bad)} of {CONCURRENT} curl downloads failed (exit {bad[0]})")
    for o in outs:
        if sha256_file(o) != expect:
            raise TftpFailed(f"{o}: content differs")
    return CONCURRENT * size / elapsed


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
        return (out.stdout or out.stderr).splitlines()[0].strip()
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def main():
    root, runs, report = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    servers = []
    for arg in sys.argv[4:]:
        name, port = arg.rsplit("=", 1)
        servers.append((name, int(port)))
    files = {}
    for name in ("1M.bin", "32M.bin"):
        files[name] = (sha256_file(os.path.join(root, name)), os.path.getsize(os.path.join(root, name)))
    load_before = loadavg()
    for name, port in servers:
        wait_ready(port, "probe")
        print(f"ready: {name} on port {port}", file=sys.stderr)

    cases = [
        ("1 MB, python client, blksize 1468, windowsize 1", "1M.bin", 1),
        ("1 MB, python client, blksize 1468, windowsize 16", "1M.bin", 16),
        ("32 MB, python client, blksize 1468, windowsize 1", "32M.bin", 1),
        ("32 MB, python client, blksize 1468, windowsize 16", "32M.bin", 16),
    ]
    results = {}  # (case, server) -> (median MB/s, windowsize granted) or error
    out_dir = tempfile.mkdtemp(prefix="bb-tftp-bench-")
    try:
        for label, fname, ws in cases:
            expect, _ = files[fname]
            reps = runs * (3 if fname == "1M.bin" else 1)
            samples = {name: [] for name, _ in servers}
            granted = {}
            for _ in range(reps):
                for name, port in servers:  # interleaved, same conditions
                    try:
                        rate, got_ws = timed_single(port, fname, expect, ws)
                        samples[name].append(rate)
                        granted[name] = got_ws
                    except (TftpFailed, OSError) as e:
                        results[(label, name)] = f"failed: {e}"
            for name, _ in servers:
                if samples[name] and (label, name) not in results:
                    results[(label, name)] = (statistics.median(samples[name]) / 1e6, granted[name])
            print(f"done: {label}", file=sys.stderr)
        label = f"{CONCURRENT} concurrent curl clients, 1 MB each, blksize 1468 (aggregate)"
        cases.append((label, "1M.bin", 1))
        expect, size = files["1M.bin"]
        samples = {name: [] for name, _ in servers}
        for _ in range(runs):
            for name, port in servers:
                try:
                    samples[name].append(timed_concurrent(port, "1M.bin", expect, size, out_dir))
                except (TftpFailed, OSError) as e:
                    results[(label, name)] = f"failed: {e}"
        for name, _ in servers:
            if samples[name] and (label, name) not in results:
                results[(label, name)] = (statistics.median(samples[name]) / 1e6, 1)
        print(f"done: {label}", file=sys.stderr)
    finally:
        for f in os.listdir(out_dir):
            os.unlink(os.path.join(out_dir, f))
        os.rmdir(out_dir)

    ours = servers[0][0]
    peers = [name for name, _ in servers[1:]]
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def cell(value):
        if isinstance(value, str):
            return value
        rate, ws = value
        note = "" if ws == 1 else f" (ws {ws})"
        return f"{rate:.1f} MB/s{note}"

    header = "| case | " + " | ".join(name for name, _ in servers) + " | " + " | ".join(f"{ours} / {p}" for p in peers) + " |"
    sep = "|---" * (1 + len(servers) + len(peers)) + "|"
    rows = []
    for label, _, ws in cases:
        vals = [results.get((label, name), "n/a") for name, _ in servers]
        ratios = []
        for p in peers:
            a, b = results.get((label, ours)), results.get((label, p))
            if isinstance(a, tuple) and isinstance(b, tuple) and b[0] > 0:
                ratios.append(f"{a[0] / b[0]:.2f}×")
            else:
                ratios.append("–")
        rows.append(f"| {label} | " + " | ".join(cell(v) for v in vals) + " | " + " | ".join(ratios) + " |")

    versions = (
        f"tftpd-hpa: `{version(['in.tftpd', '-V'])}`; dnsmasq: `{version(['dnsmasq', '--version'])}`; "
        f"curl: `{' '.join(version(['curl', '--version']).split()[:2])}`"
    )
    section = f"""<!-- tftp:begin -->
## TFTP server: bootbox-tftp vs tftpd-hpa vs dnsmasq

Run by `scripts/bench/tftp` on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores ({cpu}),
Python {platform.python_version()}; load average {load_before} before and {loadavg()} after the run
(other work on the machine makes single numbers noisy; compare within one run).
All three servers run at the same time in a private network namespace on its 127.0.0.1 (loopback, no packet loss) and serve the same directory;
every case alternates between them, so they share the machine's conditions. Single downloads: median of
{runs} runs (1 MB: {runs * 3}) with the Python RFC 7440 client in `scripts/bench/tftp.py`
(requests `blksize` 1468 + `tsize`, and `windowsize` 16 where stated). Concurrent: {CONCURRENT} `curl`
processes started together, each fetching the 1 MB file lock-step; aggregate = {CONCURRENT} MB / wall time
of the whole batch (includes process start), median of {runs} batches. Every download is checked
by SHA-256. bootbox-tftp is the release build of `appliance/tftp/examples/tftpd.rs` with defaults
(max blksize 1468, max windowsize 64, 1 s retransmit timeout). {versions}.

"(ws N)" marks the window size the server granted; a server that does not implement RFC 7440
ignores the option and the transfer runs lock-step. Ratio > 1 means bootbox-tftp is faster.
Lock-step rows measure the round trip client → server → client per 1468-byte block, which on
loopback is mostly scheduling latency (Python client included), so they are the noisiest when
the machine is busy; windowed rows measure how fast the server can stream.

{header}
{sep}
""" + "\n".join(rows) + "\n<!-- tftp:end -->\n"

    text = open(report).read() if os.path.exists(report) else "# Benchmarks\n\nEach section is written by the script named in it; re-run the script to refresh it.\n\n"
    if "<!-- tftp:begin -->" in text:
        text = re.sub(r"<!-- tftp:begin -->.*?<!-- tftp:end -->\n?", lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(report, "w") as f:
        f.write(text)
    print(section)


if __name__ == "__main__":
    main()
