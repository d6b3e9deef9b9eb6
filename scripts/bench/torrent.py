#!/usr/bin/env python3
"""Image distribution benchmark: N clients fetch one image from the box, three ways.

    (a) HTTP unicast   the box's HTTP server (`bootbox serve --http`, or nginx if the
                       binary is not given), N x `curl | sha256sum`
    (b) Bootbox torrent  bootbox-torrent's seeder + tracker (`seedbox` example, release),
                       N x aria2c with LINBO 7.4's download options
    (c) LINBO 7.4 style  `aria2c -V --seed-ratio=0.0` seeding + Debian's opentracker
                       (whitelist of the info-hash), N x the same aria2c clients

All hosts are network namespaces created here (prefix bbbt<pid>): the box and N client
namespaces on one bridge, 10.89.0.0/24; nothing touches a real interface. No DHT, LSD or
PEX anywhere. Every copy is checked by SHA-256.

Measured per case: time from starting the clients until the last one finished, first and
median finish, bytes sent by the box (TX counter of its eth0), box CPU time (utime+stime of
its processes over the download) and box peak RSS (VmHWM).

Usage: torrent.py SEEDBOX_BIN REPORT_MD [BOOTBOX_BIN]
Environment: BENCH_CLIENTS (default 10), BENCH_MB (default 1024), BENCH_LINKS (default
"1gbit,none": tc tbf rate of every link, "none" = unshaped), BENCH_CASES (default "a,b,c"),
BENCH_SEEDBOX_ARGS (extra seedbox flags for case b, e.g. "--upload-limit 60000000").
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "torrent"))

import benchdoc  # noqa: E402
import torrent_e2e as net  # noqa: E402

N = int(os.environ.get("BENCH_CLIENTS", "10"))
MB = int(os.environ.get("BENCH_MB", "1024"))
BOX = net.BOX_IP
NS_BOX = net.NS_BOX
ARIA2 = net.ARIA2_LINBO


def log(msg):
    print(f"[bench-torrent] {msg}", file=sys.stderr, flush=True)


def tx_bytes():
    out = subprocess.run(["ip", "netns", "exec", NS_BOX, "cat", "/sys/class/net/eth0/statistics/tx_bytes"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip())


def tree(pids):
    """The given PIDs and all their descendants."""
    out, todo = [], list(pids)
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(benchdoc.children(p))
    return out


def cpu(pids):
    total = 0.0
    for p in tree(pids):
        try:
            total += benchdoc.proc_cpu_seconds(p)
        except OSError:
            pass
    return total


def hwm_kb(pids):
    total = 0
    for p in tree(pids):
        try:
            total += benchdoc.proc_hwm_kb(p)
        except OSError:
            pass
    return total


def wait_http(url_path, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        r = subprocess.run(net.ns(net.client_ns(0), "curl", "-sf", "-o", "/dev/null", "-r", "0-0",
                                  f"http://{BOX}:8080{url_path}"))
        if r.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError("HTTP server did not come up")


def run_clients(kind, work, procs, torrent=None, url=None):
    """Starts N clients at once; returns finish times (s) and their output paths."""
    started = time.time()
    running = []
    for i in range(N):
        d = os.path.join(work, "clients", f"c{i}")
        os.makedirs(d, exist_ok=True)
        logf = os.path.join(d, "client.log")
        if kind == "http":
            cmd = ["sh", "-c", f"curl -sf {url} | sha256sum > {d}/sha256"]
        else:
            cmd = ["aria2c", *ARIA2, f"--dir={d}", f"--log={logf}.aria2", torrent]
        running.append((i, procs.start(net.ns(net.client_ns(i), *cmd), logf)))
    finished = {}
    deadline = started + 1800
    while len(finished) < N and time.time() < deadline:
        for i, p in running:
            if i not in finished and p.poll() is not None:
                finished[i] = (time.time() - started, p.returncode)
        time.sleep(0.05)
    if len(finished) < N:
        raise RuntimeError(f"only {len(finished)}/{N} clients finished in 30 min")
    bad = [i for i, (_, rc) in finished.items() if rc != 0]
    if bad:
        raise RuntimeError(f"clients {bad} failed; see {work}/clients/c*/client.log")
    return sorted(t for t, _ in finished.values())


def verify(kind, work, digest):
    for i in range(N):
        d = os.path.join(work, "clients", f"c{i}")
        if kind == "http":
            got = open(os.path.join(d, "sha256")).read().split()[0]
        else:
            got = net.sha256(os.path.join(d, "img.qcow2"))
        if got != digest:
            raise RuntimeError(f"client {i} ({kind}) got a different image")
    shutil.rmtree(os.path.join(work, "clients"))
    subprocess.run(["sync"])


def loadavg():
    return float(open("/proc/loadavg").read().split()[0])


def measure(name, kind, server_pids, work, procs, digest, **client_args):
    load0 = loadavg()
    tx0, cpu0 = tx_bytes(), cpu(server_pids)
    times = run_clients(kind, work, procs, **client_args)
    tx1, cpu1 = tx_bytes(), cpu(server_pids)
    load1 = loadavg()
    hwm = hwm_kb(server_pids)
    verify(kind, work, digest)
    r = {"name": name, "last": times[-1], "first": times[0], "median": statistics.median(times),
         "tx": tx1 - tx0, "cpu": cpu1 - cpu0, "hwm_kb": hwm, "load": (load0, load1)}
    log(f"{name}: all {N} in {r['last']:.1f} s, box sent {r['tx'] / 1e9:.2f} GB, "
        f"CPU {r['cpu']:.1f} s, RSS {hwm / 1024:.1f} MB")
    return r


def shape(link):
    """Limits every veth end to `link` (e.g. 1gbit) with a token bucket whose queue holds at most
    BENCH_QUEUE (default 2ms) of traffic — a switch port's small buffer; or removes the limits
    ("none"). (A 20 ms queue throttled single BitTorrent flows to less than half the link, while
    one HTTP stream still filled it: request/response protocols pay for every ms of queue.)"""
    queue = os.environ.get("BENCH_QUEUE", "2ms")
    ends = [(NS_BOX, "eth0")] + [(net.client_ns(i), "eth0") for i in range(N)]
    ends += [(net.NS_SW, "v-box")] + [(net.NS_SW, f"v-c{i}") for i in range(N)]
    for ns_name, dev in ends:
        tc = lambda *a, **kw: subprocess.run(["ip", "netns", "exec", ns_name, "tc", *a], **kw)
        tc("qdisc", "del", "dev", dev, "root", stderr=subprocess.DEVNULL)
        if link != "none":
            tc("qdisc", "add", "dev", dev, "root", "tbf", "rate", link, "burst", "256kb", "latency", queue,
               check=True)


def start_http(bootbox, work, procs):
    """The box's HTTP server (bootbox serve, or nginx as stand-in) on :8080."""
    data = os.path.join(work, "data")
    if bootbox:
        p = procs.start(net.ns(NS_BOX, bootbox, "--data", data, "serve", "--http", "0.0.0.0:8080"),
                        os.path.join(work, "bootbox.log"))
    else:
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"daemon off; master_process off; worker_processes 1; pid {work}/nginx.pid;\n"
                    f"error_log {work}/nginx-error.log; events {{ worker_connections 256; }}\n"
                    f"http {{ access_log off; sendfile on; client_body_temp_path {work};\n"
                    f"  proxy_temp_path {work}; fastcgi_temp_path {work}; uwsgi_temp_path {work};\n"
                    f"  scgi_temp_path {work}; server {{ listen {BOX}:8080; root {data}; }} }}\n")
        p = procs.start(net.ns(NS_BOX, "nginx", "-c", conf, "-p", work), os.path.join(work, "nginx.log"))
    wait_http(IMAGE_PATH)
    return p


IMAGE_PATH = "/linbo/images/img/img.qcow2"
CASE_ORDER = ["a", "b", "w", "c"]


def run_cases(link, work, procs, seedbox, bootbox, image, img_dir, digest, info_hash):
    shape(link)
    results = {}
    cases = os.environ.get("BENCH_CASES", ",".join(CASE_ORDER)).split(",")
    if "a" in cases:
        p = start_http(bootbox, work, procs)
        results["a"] = measure(f"(a) HTTP unicast, {http_label(bootbox)}", "http", [p.pid], work, procs, digest,
                               url=f"http://{BOX}:8080{IMAGE_PATH}")
        net.Procs.stop(p)
    if "w" in cases:
        results["w"] = case_b(work, procs, seedbox, bootbox, image, digest, web_seed=True)
    # Runs after "w": without --web-seed, seedbox rewrites the .torrent without `url-list`
    # (same info-hash, no rehash), and (c) then uses that file, as LINBO's buildtorrent makes none.
    if "b" in cases:
        results["b"] = case_b(work, procs, seedbox, bootbox, image, digest, web_seed=False)
    if "c" in cases:
        results["c"] = case_c(work, procs, img_dir, image, digest, info_hash)
    return results


def case_b(work, procs, seedbox, bootbox, image, digest, web_seed):
    """Bootbox torrent, started on the resume record (no rehash); with web_seed, the torrent's
    url-list points at the box's HTTP server, which runs too."""
    torrent = image + ".torrent"
    cmd = [seedbox, "--listen", f"{BOX}:6881", "--tracker", f"{BOX}:6969", "--state", os.path.join(work, "state")]
    cmd += os.environ.get("BENCH_SEEDBOX_ARGS", "").split()
    pids = []
    http = None
    if web_seed:
        cmd += ["--web-seed", f"http://{BOX}:8080/linbo/images/img/"]
        http = start_http(bootbox, work, procs)
        pids.append(http.pid)
    cmd.append(image)
    t0 = time.time()
    p = procs.start(net.ns(NS_BOX, *cmd), os.path.join(work, "seedbox.log"), stdout=subprocess.PIPE)
    again = p.stdout.readline().decode()
    p.stdout.readline()  # "ready"
    ready = time.time() - t0
    if '"hashed":false' not in again:
        raise RuntimeError(f"seedbox rehashed on restart: {again}")
    pids.append(p.pid)
    name = ("(b+w) Bootbox seeder + tracker, `url-list` web seed served by the box's HTTP" if web_seed
            else "(b) Bootbox seeder + tracker, no web seed")
    r = measure(name, "torrent", pids, work, procs, digest, torrent=torrent)
    r["ready"] = ready
    net.Procs.stop(p)
    if http:
        net.Procs.stop(http)
    return r


def case_c(work, procs, img_dir, image, digest, info_hash):
    torrent = image + ".torrent"
    # (c) LINBO 7.4: aria2c -V --seed-ratio=0.0 seeding, opentracker with a whitelist.
    with open(os.path.join(work, "whitelist"), "w") as f:
        f.write(info_hash + "\n")
    # opentracker chroots into -d and drops to nobody: the whitelist path is relative to it.
    ot = procs.start(net.ns(NS_BOX, "opentracker", "-i", BOX, "-p", "6969", "-P", "6969", "-w", "whitelist",
                            "-d", work), os.path.join(work, "opentracker.log"), cwd=work)
    t0 = time.time()
    seed_log = os.path.join(work, "aria2c-seed.out")
    open(seed_log, "w").close()
    seeder = procs.start(net.ns(NS_BOX, "aria2c", "-V", "--seed-ratio=0.0", "--enable-dht=false",
                                "--enable-dht6=false", "--disable-ipv6=true", "--bt-enable-lpd=false",
                                "--enable-peer-exchange=false", "--enable-color=false",
                                "--summary-interval=1", f"--dir={img_dir}", torrent), seed_log)
    while time.time() - t0 < 300:
        if "SEED(" in open(seed_log, errors="replace").read():
            break
        if seeder.poll() is not None or ot.poll() is not None:
            raise RuntimeError(f"aria2c seeder or opentracker exited; see {work}")
        time.sleep(0.1)
    else:
        raise RuntimeError("aria2c seeder not seeding after 300 s")
    ready = time.time() - t0
    log(f"aria2c seeder ready after {ready:.1f} s (-V hash check)")
    r = measure("(c) aria2c seeding + opentracker (LINBO 7.4)", "torrent", [seeder.pid, ot.pid], work, procs,
                digest, torrent=torrent)
    r["ready"] = ready
    net.Procs.stop(seeder)
    net.Procs.stop(ot)
    return r


def http_label(bootbox):
    return "`bootbox serve --http`" if bootbox else "nginx (stand-in)"


def main():
    seedbox, report = os.path.abspath(sys.argv[1]), sys.argv[2]
    bootbox = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 and os.path.exists(sys.argv[3]) else None
    links = os.environ.get("BENCH_LINKS", "1gbit,none").split(",")
    work = tempfile.mkdtemp(prefix="bbbt-bench-", dir="/var/tmp")
    os.chmod(work, 0o755)
    procs = net.Procs()
    by_link = {}
    try:
        net.net_up(N)
        img_dir = os.path.join(work, "data", "linbo", "images", "img")
        os.makedirs(img_dir)
        image = os.path.join(img_dir, "img.qcow2")
        t0 = time.time()
        digest = net.make_image(image, MB)
        log(f"{MB} MiB image made in {time.time() - t0:.1f} s")
        size = os.path.getsize(image)
        # First start of seedbox: makes the torrent (hashing, timed) and the resume record.
        t0 = time.time()
        p = procs.start(net.ns(NS_BOX, seedbox, "--listen", f"{BOX}:6881", "--tracker", f"{BOX}:6969",
                               "--state", os.path.join(work, "state"), "--web-seed",
                               f"http://{BOX}:8080/linbo/images/img/", image),
                        os.path.join(work, "seedbox-first.log"), stdout=subprocess.PIPE)
        first = p.stdout.readline().decode()
        hash_secs = time.time() - t0
        net.Procs.stop(p)
        info_hash = [w for w in first.split('"') if len(w) == 40][0]
        log(f"seedbox first start (hashing) {hash_secs:.1f} s")
        for link in links:
            log(f"--- links: {link}")
            by_link[link] = run_cases(link, work, procs, seedbox, bootbox, image, img_dir, digest, info_hash)
    finally:
        procs.stop_all()
        net.net_down()
    shutil.rmtree(work, ignore_errors=True)
    if any(sorted(r) == sorted(CASE_ORDER) for r in by_link.values()):
        write_report(report, by_link, size, hash_secs, http_label(bootbox))
    else:
        log(f"partial run, no report: {by_link}")


def write_report(report, by_link, size, hash_secs, http_name):
    versions = {
        "aria2c": subprocess.run(["aria2c", "--version"], capture_output=True, text=True).stdout.split("\n")[0],
        "opentracker": subprocess.run(["dpkg-query", "-W", "-f=${Version}", "opentracker"],
                                      capture_output=True, text=True).stdout,
        "curl": subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split(" (")[0],
    }
    gb = lambda n: f"{n / 1e9:.2f} GB"
    tables = []
    for link, results in by_link.items():
        if sorted(results) != sorted(CASE_ORDER):
            log(f"{link}: {results}")
            continue
        a, b, w, c = (results[k] for k in CASE_ORDER)
        rows = []
        for r in (a, b, w, c):
            ready = f"{r['ready']:.1f} s" if "ready" in r else "—"
            rows.append(f"| {r['name']} | **{r['last']:.1f} s** | {r['first']:.1f} / {r['median']:.1f} s | "
                        f"{gb(r['tx'])} | {r['cpu']:.1f} s | {r['hwm_kb'] / 1024:.1f} MB | {ready} | "
                        f"{r['load'][0]:.1f} → {r['load'][1]:.1f} |")
        title = ("every link (box and clients) shaped to 1 Gbit/s (`tc tbf`, 2 ms queue), like a switched school LAN"
                 if link == "1gbit" else f"links shaped to {link}" if link != "none"
                 else "unshaped veth links (CPU-bound: all processes share the 2 cores)")
        tables.append(f"""**{title}**

| case | all {N} complete | first / median | sent by the box | box CPU | box peak RSS | ready after start | machine load |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Bootbox torrent (b) vs HTTP unicast: all-complete time **{a['last'] / b['last']:.2f}×**, box traffic
**{a['tx'] / max(b['tx'], 1):.2f}×** less, box CPU {a['cpu'] / max(b['cpu'], 0.01):.2f}×.
With the web seed (b+w) vs HTTP unicast: time **{a['last'] / w['last']:.2f}×**, box traffic
**{a['tx'] / max(w['tx'], 1):.2f}×** less.
Bootbox torrent vs aria2c + opentracker: all-complete time **{c['last'] / b['last']:.2f}×**, box traffic
{c['tx'] / max(b['tx'], 1):.2f}×, box CPU {c['cpu'] / max(b['cpu'], 0.01):.2f}×, box RSS
{c['hwm_kb'] / max(b['hwm_kb'], 1):.2f}×; seeding starts after {b['ready']:.1f} s (resume record) vs
{c['ready']:.1f} s (`aria2c -V` hash check of the image).
(Each ratio is other / Bootbox torrent: > 1 means Bootbox torrent is faster or lighter.)
""")
    text = f"""<!-- torrent:begin -->
## Image distribution: HTTP unicast vs Bootbox BitTorrent vs LINBO's aria2c + opentracker

Run by `scripts/bench/torrent` on {time.strftime('%Y-%m-%d')}, {benchdoc.machine()}.
{N} clients fetch one {size / 2**30:.0f} GiB image (random data) from the box at the same time. The
box and every client are network namespaces on one Linux bridge; all processes (box and
{N} clients) share the machine's 2 cores. Every copy is checked by SHA-256. Clients: (a)
`{versions['curl']}` piped into `sha256sum`, the others `{versions['aria2c']}` with LINBO 7.4's
download options (`--enable-dht=false --enable-dht6=false --bt-enable-lpd=false
--enable-peer-exchange=false -c --seed-time=0 --seed-ratio=0.0`, no IPv6), so each client
leaves the swarm as soon as it is complete. One torrent, made by `bootbox-torrent` (v1,
private, 512 KiB pieces, `announce` = box:6969), used by all torrent cases (same info-hash).

- (a) {http_name}: the image as `<data>/linbo/images/img/img.qcow2`.
- (b) the `seedbox` example of `appliance/torrent` (release build): seeder + tracker in one
  process, no upload limit, torrent without `url-list`. Its first start hashed the image in
  {hash_secs:.1f} s; the measured runs are restarts, which reuse the torrent from the resume
  record ("ready after start").
- (b+w) the same plus the torrent's BEP 19 `url-list` pointing at the box's HTTP server (a),
  which runs too: aria2c then also fetches ranges over HTTP. Box = seedbox + HTTP server.
- (c) as LINBO 7.4 does it, torrent without `url-list` (LINBO's `buildtorrent` writes none):
  `aria2c -V --seed-ratio=0.0` seeding (DHT/LSD/PEX off), Debian's
  `opentracker` {versions['opentracker']} with the info-hash in its whitelist (`-w`). "Ready" is
  aria2c's `-V` hash check before it seeds.

"Box" = the server processes of the case (HTTP server; seedbox [+ HTTP server]; aria2c + opentracker). Box
traffic is the TX byte counter of the box's interface; CPU is utime+stime during the download;
RSS is the peak resident memory (VmHWM, summed). "Machine load" is the 1-minute load average
before → after the case: the build machine was shared with other jobs during this run, so the
absolute times are noisy; box traffic, CPU and RSS are not affected by that.

{chr(10).join(tables)}<!-- torrent:end -->"""
    benchdoc.write_section(report, "torrent", text)
    log(f"wrote the torrent section of {report}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
