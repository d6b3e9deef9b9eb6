#!/usr/bin/env python3
"""ProxyDHCP benchmark driver; called by scripts/bench/proxydhcp, which has
built the binaries and created the two network namespaces (and removes them
and kills the servers listed in the pid file on exit).

    proxydhcp.py bench BOOTBOX WORK SRV_NS CLI_NS PIDFILE REPORT
        Orchestrates (in the root namespace): imports the registered hosts,
        then for every run and scenario starts one server at a time in
        SRV_NS (Bootbox, then dnsmasq), checks with a probe that the client
        gets OFFERs from it, runs the load generator in CLI_NS, reads the
        server's CPU time and peak RSS from /proc, stops it, and finally
        rewrites the "proxydhcp" section of REPORT.
    proxydhcp.py load IFACE REQUESTS WINDOW POOL TIMEOUT DURATION
        The load generator (run inside CLI_NS): PXE DHCPDISCOVERs broadcast
        from port 68 to 255.255.255.255:67, REQUESTS in all, at most WINDOW
        outstanding, request i from MAC number i % POOL; an OFFER with the
        same xid and chaddr answers it, none within TIMEOUT seconds is a
        loss; nothing new is sent after DURATION seconds. Prints JSON.
    proxydhcp.py probe IFACE SECONDS
        Sends one DISCOVER (unregistered probe MAC) every 0.2 s until an
        OFFER comes back; prints it as JSON; exit 1 if none did.

Environment (bench): RUNS (default 3), HOSTS (1000), WINDOW (32),
TIMEOUT (1.0 s), DURATION (60 s).
"""

import json
import os
import random
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchdoc  # noqa: E402

NET = "10.77.0"
SRV_IP, CLI_IP = f"{NET}.2", f"{NET}.10"
HTTP_PORT = 8080
VENDOR_CLASS = b"PXEClient:Arch:00000:UNDI:002001"
MAGIC = b"\x63\x82\x53\x63"
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


# ------------------------------------------------------------------ packets


def mac_of(i, probe=False):
    """MAC number i of the pool (02:bb:...); probe MACs are never registered."""
    return bytes([0x02, 0xBB, 0xFF if probe else 0x00, (i >> 16) & 255, (i >> 8) & 255, i & 255])


def mac_str(mac):
    return ":".join(f"{b:02x}" for b in mac)


def discover_template():
    """A PXE DISCOVER as BIOS PXE ROMs send it; xid at 4, chaddr at 28,
    GUID (option 97) patched per MAC by the caller."""
    hdr = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, 0, 4, 0x8000,
                      b"\0" * 4, b"\0" * 4, b"\0" * 4, b"\0" * 4, b"\0" * 16, b"\0" * 64, b"\0" * 128)
    opts = bytearray(MAGIC)
    opts += bytes([53, 1, 1])                     # DHCPDISCOVER
    opts += bytes([57, 2]) + struct.pack("!H", 1260)
    opts += bytes([55, 11, 1, 2, 3, 5, 6, 12, 13, 43, 54, 60, 66])
    opts += bytes([93, 2, 0, 0])                  # arch 0: x86 BIOS
    opts += bytes([94, 3, 1, 2, 1])               # UNDI 2.1
    guid_at = len(hdr) + len(opts) + 3
    opts += bytes([97, 17, 0]) + b"\0" * 16       # client GUID
    opts += bytes([60, len(VENDOR_CLASS)]) + VENDOR_CLASS
    opts += bytes([255])
    pkt = bytearray(hdr + opts)
    return pkt, guid_at


def patch(pkt, guid_at, xid, mac):
    struct.pack_into("!I", pkt, 4, xid)
    pkt[28:34] = mac
    pkt[guid_at:guid_at + 16] = b"\x44\x45\x4c\x4c" + mac + b"\0" * 6


def options(buf, n):
    """Options of a BOOTP/DHCP message as {code: bytes} (no overload)."""
    out, i = {}, 240
    if bytes(buf[236:240]) != MAGIC:
        return out
    while i < n:
        code = buf[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        if i + 1 >= n:
            break
        ln = buf[i + 1]
        out[code] = bytes(buf[i + 2:i + 2 + ln])
        i += 2 + ln
    return out


def describe(buf, n, src):
    o = options(buf, n)
    file_field = bytes(buf[108:236]).split(b"\0", 1)[0].decode(errors="replace")
    return {
        "from": src,
        "type": o.get(53, b"?")[0],
        "server_id": socket.inet_ntoa(o[54]) if len(o.get(54, b"")) == 4 else None,
        "yiaddr": socket.inet_ntoa(bytes(buf[16:20])),
        "siaddr": socket.inet_ntoa(bytes(buf[20:24])),
        "file": file_field or (o.get(67, b"").decode(errors="replace") or None),
        "vendor_class": o.get(60, b"").decode(errors="replace") or None,
        "pxe_opt43_bytes": len(o.get(43, b"")),
    }


def client_socket(iface):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode())
    s.bind(("0.0.0.0", 68))
    s.setblocking(False)
    return s


# ------------------------------------------------------------------ load


def load(iface, requests, window, pool, timeout, duration):
    s = client_socket(iface)
    dest = ("255.255.255.255", 67)
    pkt, guid_at = discover_template()
    macs = [mac_of(i) for i in range(pool)]
    xid0 = random.getrandbits(32)
    outstanding = {}          # xid -> (send time, mac)
    fifo = []                 # (send time, xid), in send order = deadline order
    head = 0
    answered, expired = set(), set()
    lat = []
    sent = replies = lost = late = dup = foreign = send_errors = 0
    per_server = {}
    sample = None
    buf = bytearray(2048)
    t_start = time.perf_counter()
    stop_sending = t_start + duration
    t_last_reply = t_start
    while True:
        now = time.perf_counter()
        while len(outstanding) < window and sent < requests and now < stop_sending:
            xid = (xid0 + sent) & 0xFFFFFFFF
            mac = macs[sent % pool]
            patch(pkt, guid_at, xid, mac)
            try:
                s.sendto(pkt, dest)
            except (BlockingIOError, OSError):
                send_errors += 1
                break
            outstanding[xid] = (now, mac)
            fifo.append((now, xid))
            sent += 1
            now = time.perf_counter()
        while head < len(fifo) and fifo[head][0] + timeout <= now:
            xid = fifo[head][1]
            head += 1
            if outstanding.pop(xid, None) is not None:
                lost += 1
                expired.add(xid)
        if not outstanding and (sent >= requests or now >= stop_sending):
            break
        wait = fifo[head][0] + timeout - now if head < len(fifo) else 0.05
        r, _, _ = select.select([s], [], [], max(0.0, min(wait, 0.05)))
        if not r:
            continue
        while True:
            try:
                n, addr = s.recvfrom_into(buf)
            except BlockingIOError:
                break
            t = time.perf_counter()
            if n < 240 or buf[0] != 2:
                foreign += 1
                continue
            xid = struct.unpack_from("!I", buf, 4)[0]
            entry = outstanding.get(xid)
            if entry is None:
                if xid in answered:
                    dup += 1
                elif xid in expired:
                    late += 1
                else:
                    foreign += 1
                continue
            if bytes(buf[28:34]) != entry[1]:
                foreign += 1
                continue
            del outstanding[xid]
            answered.add(xid)
            lat.append(t - entry[0])
            replies += 1
            t_last_reply = t
            per_server[addr[0]] = per_server.get(addr[0], 0) + 1
            if sample is None:
                sample = describe(buf, n, addr[0])
    elapsed = max(t_last_reply - t_start, 1e-9)
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(round(p * (len(lat) - 1))))] * 1000 if lat else None
    return {
        "requests": requests, "window": window, "pool": pool, "sent": sent, "replies": replies,
        "lost": lost, "late": late, "duplicates": dup, "foreign": foreign, "send_errors": send_errors,
        "seconds": elapsed, "replies_per_s": replies / elapsed,
        "p50_ms": q(0.50), "p99_ms": q(0.99), "max_ms": q(1.0),
        "mean_ms": statistics.fmean(lat) * 1000 if lat else None,
        "offers_by_server": per_server, "sample_offer": sample,
    }


def probe(iface, seconds):
    s = client_socket(iface)
    pkt, guid_at = discover_template()
    buf = bytearray(2048)
    deadline = time.time() + seconds
    i = 0
    while time.time() < deadline:
        xid = random.getrandbits(32)
        mac = mac_of(i, probe=True)
        patch(pkt, guid_at, xid, mac)
        s.sendto(pkt, ("255.255.255.255", 67))
        i += 1
        end = time.time() + 0.2
        while time.time() < end:
            r, _, _ = select.select([s], [], [], max(0.0, end - time.time()))
            if not r:
                continue
            try:
                n, addr = s.recvfrom_into(buf)
            except BlockingIOError:
                continue
            if n >= 240 and buf[0] == 2 and struct.unpack_from("!I", buf, 4)[0] == xid:
                d = describe(buf, n, addr[0])
                d["probes_sent"] = i
                return d
    return None


# ------------------------------------------------------------------ orchestration


def ns(name, *cmd):
    return ["ip", "netns", "exec", name, *cmd]


def log(msg):
    print(f"[proxydhcp] {msg}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, bootbox, work, srv, cli, pidfile):
        self.bootbox, self.work, self.srv, self.cli, self.pidfile = bootbox, work, srv, cli, pidfile
        self.data = os.path.join(work, "data")
        self.me = os.path.abspath(__file__)

    def note_pid(self, pid):
        with open(self.pidfile, "a") as f:
            f.write(f"{pid}\n")

    def forget_pid(self, pid):
        """After the server was reaped: its PID may be reused, so the shell's
        EXIT trap must no longer kill it."""
        with open(self.pidfile) as f:
            pids = [line.strip() for line in f if line.strip() and line.strip() != str(pid)]
        with open(self.pidfile, "w") as f:
            f.write("".join(f"{x}\n" for x in pids))

    def import_hosts(self, hosts):
        path = os.path.join(self.work, "devices.csv")
        with open(path, "w") as f:
            for i in range(hosts):
                f.write(f"r{100 + i // 30};pc{i:05d};bench;{mac_str(mac_of(i))};DHCP;;;;;;1\n")
        subprocess.run([self.bootbox, "--data", self.data, "import", "devices", path], check=True,
                       stdout=subprocess.DEVNULL)

    def start(self, server):
        logf = open(os.path.join(self.work, f"{server}.log"), "a")
        if server == "bootbox":
            # Release build, default logging (info): what the appliance runs.
            cmd = ns(self.srv, self.bootbox, "--data", self.data, "serve", "--http", f"127.0.0.1:{HTTP_PORT}",
                     "--interface", "eth0", "--server-ip", SRV_IP, "--dhcp", "proxy")
        else:
            conf = os.path.join(self.work, "dnsmasq.conf")
            with open(conf, "w") as f:
                f.write(f"""# ProxyDHCP as a LINBO/iPXE setup would configure dnsmasq
port=0
interface=eth0
bind-interfaces
user=root
pid-file={self.work}/dnsmasq.pid
log-facility={self.work}/dnsmasq-dhcp.log
dhcp-range={NET}.0,proxy,255.255.255.0
dhcp-userclass=set:ipxe,iPXE
dhcp-match=set:ipxe,175
pxe-service=tag:!ipxe,x86PC,"Bootbox bench",boot/ipxe/undionly.kpxe,{SRV_IP}
pxe-service=tag:!ipxe,x86-64_EFI,"Bootbox bench",boot/ipxe/snponly.efi,{SRV_IP}
pxe-service=tag:!ipxe,BC_EFI,"Bootbox bench",boot/ipxe/snponly.efi,{SRV_IP}
pxe-service=tag:ipxe,x86PC,"Bootbox bench",http://{SRV_IP}:{HTTP_PORT}/boot.ipxe
pxe-service=tag:ipxe,x86-64_EFI,"Bootbox bench",http://{SRV_IP}:{HTTP_PORT}/boot.ipxe
""")
            cmd = ns(self.srv, "dnsmasq", "--keep-in-foreground", f"--conf-file={conf}")
        # `ip netns exec` execs the server: the PID is the server's own.
        p = subprocess.Popen(cmd, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        self.note_pid(p.pid)
        if server == "bootbox":
            for _ in range(100):
                r = subprocess.run(ns(self.srv, "curl", "-fsS", "--max-time", "2", f"http://127.0.0.1:{HTTP_PORT}/healthz"),
                                   capture_output=True)
                if r.returncode == 0:
                    break
                if p.poll() is not None:
                    raise RuntimeError(f"bootbox exited with {p.returncode}; see {self.work}/bootbox.log")
                time.sleep(0.1)
        r = subprocess.run(ns(self.cli, sys.executable, self.me, "probe", "eth0", "15"), capture_output=True, text=True)
        if r.returncode != 0 or p.poll() is not None:
            self.stop(p)
            raise RuntimeError(f"{server}: no OFFER to the probe ({r.stderr.strip()[-300:]}); see {self.work}/{server}.log")
        return p, json.loads(r.stdout)

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.forget_pid(p.pid)

    def metrics(self):
        r = subprocess.run(ns(self.srv, "curl", "-fsS", "--max-time", "5", f"http://127.0.0.1:{HTTP_PORT}/metrics"),
                           capture_output=True, text=True)
        out = {}
        for line in r.stdout.splitlines():
            if line.startswith("bootbox_dhcp_"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out

    def one(self, server, scenario, load_args):
        p, probe_offer = self.start(server)
        try:
            cpu0 = benchdoc.proc_cpu_seconds(p.pid)
            r = subprocess.run(ns(self.cli, sys.executable, self.me, "load", "eth0", *map(str, load_args)),
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"load generator failed: {r.stderr.strip()[-500:]}")
            res = json.loads(r.stdout)
            res["cpu_s"] = benchdoc.proc_cpu_seconds(p.pid) - cpu0
            res["hwm_kb"] = benchdoc.proc_hwm_kb(p.pid)
            res["probe_offer"] = probe_offer
            if server == "bootbox":
                time.sleep(0.5)
                res["metrics"] = self.metrics()
        finally:
            self.stop(p)
        log(f"{scenario:<9} {server:<8} sent {res['sent']}, OFFERs {res['replies']} "
            f"(by server {res['offers_by_server']}), lost {res['lost']}, late {res['late']}, "
            f"{res['replies_per_s']:.0f}/s, p50 {res['p50_ms'] or 0:.3f} ms, p99 {res['p99_ms'] or 0:.3f} ms, "
            f"server CPU {res['cpu_s']:.2f} s")
        return res


def bench(bootbox, work, srv, cli, pidfile, report):
    runs = int(os.environ.get("RUNS", "3"))
    hosts = int(os.environ.get("HOSTS", "1000"))
    window = int(os.environ.get("WINDOW", "32"))
    timeout = float(os.environ.get("TIMEOUT", "1.0"))
    duration = float(os.environ.get("DURATION", "60"))
    per_mac = 8  # below Bootbox's burst of 10 replies per MAC
    distinct = int(os.environ.get("DISTINCT", "20000"))
    scenarios = {
        # Every request from a registered PC; each MAC asks `per_mac` times.
        "known": (hosts * per_mac, hosts),
        # Every request from another MAC: `hosts` registered, the rest unknown
        # (Bootbox answers unknown PCs with the registration script path).
        "distinct": (distinct, distinct),
    }
    b = Bench(bootbox, work, srv, cli, pidfile)
    log(f"importing {hosts} registered hosts")
    b.import_hosts(hosts)
    results = {(sc, sv): [] for sc in scenarios for sv in ("bootbox", "dnsmasq")}
    for run in range(runs):
        for sc, (requests, pool) in scenarios.items():
            for sv in ("bootbox", "dnsmasq"):
                results[(sc, sv)].append(b.one(sv, sc, (requests, window, pool, timeout, duration)))
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump({f"{k[0]}/{k[1]}": v for k, v in results.items()}, f, indent=1)
    problems = [f"{sv} answered none of the {sc} load" for (sc, sv), rs in results.items() if not any(r["replies"] for r in rs)]
    write_report(report, results, scenarios, runs, hosts, window, timeout)
    if problems:
        raise RuntimeError("; ".join(problems))


def med(rs, key):
    vals = [r[key] for r in rs if r[key] is not None]
    return statistics.median(vals) if vals else float("nan")


def offer_field(res, key):
    return (res.get("sample_offer") or {}).get(key)


def offer_file(res):
    return offer_field(res, "file") or "-"


def write_report(report, results, scenarios, runs, hosts, window, timeout):
    dnsv = " ".join(subprocess.run(["dnsmasq", "--version"], capture_output=True, text=True).stdout.split()[:3])
    rows = []
    for sc, (requests, pool) in scenarios.items():
        if sc == "known":
            what = f"{hosts:,} registered PCs, {requests // pool} DISCOVERs each ({requests:,} requests)"
        else:
            what = f"{requests:,} distinct MACs, one DISCOVER each ({min(hosts, pool):,} registered)"
        bb, dm = results[(sc, "bootbox")], results[(sc, "dnsmasq")]
        for name, rs in (("Bootbox", bb), ("dnsmasq", dm)):
            sent = sum(r["sent"] for r in rs)
            lost = sum(r["lost"] for r in rs)
            cpu_us = med([{"v": r["cpu_s"] / max(r["replies"], 1) * 1e6} for r in rs], "v")
            rows.append(
                f"| {what} | {name} | {med(rs, 'replies_per_s'):,.0f} | {med(rs, 'p50_ms'):.3f} | {med(rs, 'p99_ms'):.3f} "
                f"| {lost / max(sent, 1) * 100:.2f} % | {cpu_us:.0f} µs | {med(rs, 'hwm_kb') / 1024:.1f} MB |"
            )
        cpu = lambda rs: med([{"v": r["cpu_s"] / max(r["replies"], 1)} for r in rs], "v")
        rows.append(
            f"| | **Bootbox / dnsmasq** | **{med(bb, 'replies_per_s') / med(dm, 'replies_per_s'):.2f}×** "
            f"| {med(bb, 'p50_ms') / med(dm, 'p50_ms'):.2f}× | {med(bb, 'p99_ms') / med(dm, 'p99_ms'):.2f}× | "
            f"| {cpu(bb) / cpu(dm):.2f}× | {med(bb, 'hwm_kb') / med(dm, 'hwm_kb'):.1f}× |"
        )
    bb0 = results[("known", "bootbox")][0]
    dm0 = results[("known", "dnsmasq")][0]
    metrics = results[("distinct", "bootbox")][-1].get("metrics", {})
    mlines = ", ".join(f"`{k}` {v:.0f}" for k, v in sorted(metrics.items())) or "(none)"
    text = f"""<!-- proxydhcp:begin -->
## ProxyDHCP: OFFERs per second and latency, Bootbox vs dnsmasq

Run by `scripts/bench/proxydhcp` on {time.strftime('%Y-%m-%d')}, {benchdoc.machine()}; {dnsv};
Bootbox release build. Two network namespaces joined by a veth pair: the server side
(`eth0` {SRV_IP}/24) runs one server at a time, the client side runs a Python load
generator that broadcasts BIOS PXE DHCPDISCOVERs (option 53=1, 60 `PXEClient:Arch:00000:UNDI:002001`,
93=0, 94, 97 GUID) from port 68 to 255.255.255.255:67 with {window} requests outstanding, and
matches the broadcast OFFERs by xid and chaddr. A request without an OFFER within {timeout:g} s is
lost. Each server is started fresh for every run (Bootbox's per-MAC rate limit, 10 replies per
10 s, starts empty); median of {runs} runs. Server CPU is utime+stime from `/proc/PID/stat` over
the load divided by the OFFERs sent (10 ms clock ticks); memory is the server's VmHWM at the end.

- Bootbox: `bootbox serve --interface eth0 --server-ip {SRV_IP} --dhcp proxy` on a registry with
  {hosts:,} hosts imported by `bootbox import devices`; default logging, boot timeline recording on.
- dnsmasq: `dhcp-range={NET}.0,proxy`, `dhcp-userclass=set:ipxe,iPXE`, `dhcp-match=set:ipxe,175`
  and `pxe-service` lines per firmware (iPXE binary by TFTP, iPXE → script URL), default DHCP
  logging to a file.

| load | server | OFFERs/s | p50 ms | p99 ms | lost | server CPU per OFFER | server peak RSS |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Ratio rows: above 1 is better for Bootbox in the OFFERs/s column, below 1 is better in the
latency, CPU and memory columns. The client is one Python process on the same {os.cpu_count()} cores as the server, so the absolute
rates are bounded by the client too; the ratio and the CPU per OFFER compare the servers.
What the OFFERs carry (first OFFER of the first run, as the client decoded it): Bootbox names
the boot file directly (`{offer_file(bb0)}`, server id {offer_field(bb0, 'server_id')}); dnsmasq sends
{offer_field(dm0, 'pxe_opt43_bytes')} bytes of PXE option 43 (boot menu / discovery control) and
{'no file' if not offer_field(dm0, 'file') else 'file `' + offer_field(dm0, 'file') + '`'}, so a BIOS
PXE ROM makes a second round trip to its port 4011 before it loads the file; that second step is not
measured here.
Bootbox's own counters after the last "distinct" run: {mlines}.
<!-- proxydhcp:end -->
"""
    benchdoc.write_section(report, "proxydhcp", text)
    print(text)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "load":
        iface, requests, window, pool, timeout, duration = args
        print(json.dumps(load(iface, int(requests), int(window), int(pool), float(timeout), float(duration))))
        return 0
    if cmd == "probe":
        d = probe(args[0], float(args[1]))
        if d is None:
            print("no OFFER", file=sys.stderr)
            return 1
        print(json.dumps(d))
        return 0
    if cmd == "bench":
        bench(*args)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
