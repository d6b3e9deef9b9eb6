#!/usr/bin/env python3
"""BitTorrent end-to-end test: LINBO's torrent clients download an image
from Bootbox's seeder and tracker (appliance/torrent, run by its `seedbox`
example, the stand-in for `bootbox serve`).

Topology, all inside network namespaces this script creates and removes
(nothing touches the machine's real interfaces):

    ns <p>-sw    br0, one veth port per host below
    ns <p>-box   eth0 10.89.0.1/24   seedbox: seeder :6881, tracker :6969, nginx :8080 (webseed case)
    ns <p>-cN    eth0 10.89.0.1N/24  one torrent client each

Cases:
    swarm         8 clients (3 aria2c with LINBO 7.4's options, 2 transmission-cli,
                  3 `ctorrent -z 128` as LINBO 4.3 ran it) download a 256 MiB image at
                  once; the box (seeder + tracker) is restarted once in the middle and
                  must come back without rehashing; every copy must be byte-identical
                  (sha256); the ctorrent clients must have received 128 KiB blocks from
                  the box. The torrent's `url-list` points at a port where nothing
                  listens (the box's HTTP is down too when the box restarts): clients must
                  cope with that.
    unknown-hash  an announce for an info-hash the box does not serve is refused, both
                  over raw HTTP/1.0 and from aria2c.
    webseed       aria2c with every tracker excluded downloads through the torrent's
                  `url-list` web seed from the box's HTTP server (nginx stand-in, Range).

No DHT, LSD, PEX or UPnP anywhere: aria2c gets --enable-dht=false --enable-dht6=false
--bt-enable-lpd=false --enable-peer-exchange=false; transmission-cli gets a settings.json
with dht/lpd/pex/utp/port-forwarding off; ctorrent has none of them; the torrents are
private as well.

Prints one line per case and the closing line "N passed, N failed".
Usage: torrent_e2e.py SEEDBOX_BIN [CASE ...]        (root; aria2, transmission-cli, ctorrent,
                                                    nginx-light for webseed)
Environment: TORRENT_E2E_MB (image size, default 256), TORRENT_E2E_TIMEOUT (s, default 180),
             TORRENT_E2E_LIMIT (box upload limit, bytes/s, default 24000000).
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PREFIX = f"bbbt{os.getpid() % 100000}"
NS_SW, NS_BOX = f"{PREFIX}-sw", f"{PREFIX}-box"
BOX_IP = "10.89.0.1"
SEED_PORT, TRACKER_PORT, HTTP_PORT = 6881, 6969, 8080
SIZE_MB = int(os.environ.get("TORRENT_E2E_MB", "256"))
TIMEOUT = int(os.environ.get("TORRENT_E2E_TIMEOUT", "180"))
UPLOAD_LIMIT = int(os.environ.get("TORRENT_E2E_LIMIT", "24000000"))
CLIENTS = ["aria2c", "aria2c", "aria2c", "transmission", "transmission", "ctorrent", "ctorrent", "ctorrent"]
# LINBO 7.4's aria2c download (linbo_download_image): no colour, no DHT, no IPv6, -c, seed-time 0.
ARIA2_LINBO = ["--enable-color=false", "--enable-dht=false", "--enable-dht6=false", "--disable-ipv6=true",
               "--bt-enable-lpd=false", "--enable-peer-exchange=false", "-c", "--seed-time=0",
               "--seed-ratio=0.0", "--file-allocation=none", "--summary-interval=0",
               "--console-log-level=warn", "--log-level=info"]


def log(msg):
    print(f"[torrent-e2e] {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, text=True, **kw)


def ns(name, *cmd):
    return ["ip", "netns", "exec", name, *cmd]


def client_ns(i):
    return f"{PREFIX}-c{i}"


def client_ip(i):
    return f"10.89.0.{10 + i}"


# ---------------------------------------------------------------- network


def net_up(n_clients):
    names = [NS_SW, NS_BOX] + [client_ns(i) for i in range(n_clients)]
    for n in names:
        run(["ip", "netns", "add", n])
        run(["ip", "-n", n, "link", "set", "lo", "up"])
    sw = lambda *a: run(["ip", "-n", NS_SW, *a])
    sw("link", "add", "br0", "type", "bridge")
    sw("link", "set", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
    sw("link", "set", "br0", "up")
    hosts = [("v-box", NS_BOX, BOX_IP)] + [(f"v-c{i}", client_ns(i), client_ip(i)) for i in range(n_clients)]
    for port, peer_ns, ip in hosts:
        sw("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", peer_ns)
        sw("link", "set", port, "master", "br0", "up")
        run(["ip", "-n", peer_ns, "addr", "add", f"{ip}/24", "dev", "eth0"])
        run(["ip", "-n", peer_ns, "link", "set", "eth0", "up"])


def net_down():
    for n in run(["ip", "netns", "list"], capture_output=True).stdout.split("\n"):
        name = n.split(" ")[0]
        if not name.startswith(PREFIX + "-"):
            continue
        # Only processes inside our own namespaces: all of them were started here.
        pids = run(["ip", "netns", "pids", name], check=False, capture_output=True).stdout.split()
        for p in pids:
            try:
                os.kill(int(p), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        run(["ip", "netns", "del", name], check=False, stderr=subprocess.DEVNULL)


class Procs:
    """Processes started by the test, stopped by PID."""

    def __init__(self):
        self.procs = []

    def start(self, cmd, logfile, **kw):
        out = open(logfile, "ab")
        p = subprocess.Popen(cmd, stdout=kw.pop("stdout", out), stderr=out, stdin=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    @staticmethod
    def stop(p, sig=signal.SIGTERM, wait=5):
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(wait)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_all(self):
        for p in self.procs:
            self.stop(p, signal.SIGKILL, 5)


# ---------------------------------------------------------------- pieces


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def make_image(path, mb):
    with open(path, "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1 << 20))
    return sha256(path)


class Box:
    """The seedbox process in the box namespace."""

    def __init__(self, binary, work, procs, images, web_seed=None):
        self.binary, self.work, self.procs, self.images = binary, work, procs, images
        self.web_seed = web_seed
        self.stats_file = os.path.join(work, "box-stats.json")
        self.log = os.path.join(work, "box.log")
        self.events_file = os.path.join(work, "box-events.jsonl")
        self.proc = None
        self.lines = []

    def start(self):
        cmd = [self.binary, "--listen", f"{BOX_IP}:{SEED_PORT}", "--tracker", f"{BOX_IP}:{TRACKER_PORT}",
               "--state", os.path.join(self.work, "state"), "--interval", "10", "--min-interval", "3",
               "--upload-limit", str(UPLOAD_LIMIT), "--stats-file", self.stats_file,
               "--events-file", self.events_file]
        if self.web_seed:
            cmd += ["--web-seed", self.web_seed]
        cmd += self.images
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"))
        self.proc = self.procs.start(ns(NS_BOX, *cmd), self.log, stdout=subprocess.PIPE, env=env)
        self.lines = []
        deadline = time.time() + 120
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode().strip()
            if not line:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"seedbox exited {self.proc.returncode}; see {self.log}")
                continue
            if line == "ready":
                return [json.loads(l) for l in self.lines]
            self.lines.append(line)
        raise RuntimeError("seedbox not ready in 120 s")

    def stop(self):
        Procs.stop(self.proc, signal.SIGTERM, 10)

    def events(self):
        try:
            with open(self.events_file) as f:
                return [json.loads(l) for l in f if l.strip()]
        except OSError:
            return []

    def stats(self):
        try:
            with open(self.stats_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None


def start_client(kind, i, torrent, work, procs):
    d = os.path.join(work, f"c{i}")
    os.makedirs(d, exist_ok=True)
    logf = os.path.join(work, f"c{i}-{kind}.log")
    done = os.path.join(d, "done")
    if kind == "aria2c":
        cmd = ["aria2c", *ARIA2_LINBO, f"--dir={d}", f"--log={logf}.aria2", torrent]
    elif kind == "transmission":
        cfg = os.path.join(d, "cfg")
        os.makedirs(cfg, exist_ok=True)
        with open(os.path.join(cfg, "settings.json"), "w") as f:
            json.dump({"dht-enabled": False, "lpd-enabled": False, "pex-enabled": False, "utp-enabled": False,
                       "port-forwarding-enabled": False, "blocklist-enabled": False,
                       "speed-limit-up-enabled": False, "speed-limit-down-enabled": False,
                       "rename-partial-files": False, "message-level": 2}, f)
        script = os.path.join(d, "finished.sh")
        with open(script, "w") as f:
            f.write(f"#!/bin/sh\ntouch {done}\n")
        os.chmod(script, 0o755)
        cmd = ["transmission-cli", "-g", cfg, "-w", d, "-M", "-f", script, torrent]
    else:
        # LINBO 4.3: ctorrent -e 0 -I <own IP> -m 1 -M 100 -z 128 -X "touch <img>.complete"
        cmd = ["ctorrent", "-e", "0", "-I", client_ip(i), "-m", "1", "-M", "100", "-z", "128",
               "-X", f"touch {done}", "-s", os.path.join(d, "img.qcow2"), torrent]
    return procs.start(ns(client_ns(i), *cmd), logf, cwd=d)


def http10(ns_name, host, port, path):
    """An HTTP/1.0 GET from inside a namespace; returns the raw answer (read until close)."""
    code = ("import socket,sys;s=socket.create_connection((sys.argv[1],int(sys.argv[2])),5);"
            "s.sendall(('GET '+sys.argv[3]+' HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n').encode());"
            "b=b''\nwhile True:\n d=s.recv(65536)\n if not d: break\n b+=d\nsys.stdout.buffer.write(b)")
    out = subprocess.run(ns(ns_name, "python3", "-c", code, host, str(port), path), capture_output=True, timeout=20)
    return out.stdout


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------- cases


def case_swarm(binary, work, procs):
    img_dir = os.path.join(work, "images", "img")
    os.makedirs(img_dir)
    image = os.path.join(img_dir, "img.qcow2")
    t0 = time.time()
    digest = make_image(image, SIZE_MB)
    log(f"image {SIZE_MB} MiB made in {time.time() - t0:.1f} s")
    # The web seed points at a port where nothing listens: clients must not mind.
    box = Box(binary, work, procs, [image], web_seed=f"http://{BOX_IP}:{HTTP_PORT + 1}/linbo/images/img/")
    t0 = time.time()
    info = box.start()[0]
    log(f"box ready in {time.time() - t0:.1f} s: {info}")
    assert info["hashed"], "first start must hash the image"
    torrent = info["torrent"]
    size = os.path.getsize(image)

    clients = []
    t_start = time.time()
    for i, kind in enumerate(CLIENTS):
        clients.append((kind, i, start_client(kind, i, torrent, work, procs)))

    def finished(kind, i, p):
        d = os.path.join(work, f"c{i}")
        if kind == "aria2c":
            return p.poll() is not None
        return os.path.exists(os.path.join(d, "done"))

    restarted = None
    done = {}
    deadline = t_start + TIMEOUT
    while time.time() < deadline and len(done) < len(clients):
        time.sleep(0.5)
        st = box.stats()
        served = st["seeder"]["bytes_served"] if st else 0
        if restarted is None and served >= size // 2:
            t_r = time.time()
            box.stop()
            log(f"box stopped after serving {served / 1e6:.0f} MB ({t_r - t_start:.1f} s in); restarting")
            info2 = box.start()[0]
            restarted = {"at": t_r - t_start, "served_before": served, "downtime": time.time() - t_r,
                         "hashed": info2["hashed"]}
            log(f"box back after {restarted['downtime']:.2f} s, hashed={info2['hashed']}")
        for kind, i, p in clients:
            if (kind, i) not in done and finished(kind, i, p):
                done[(kind, i)] = time.time() - t_start
                log(f"c{i} {kind} finished at {done[(kind, i)]:.1f} s")
    stats = box.stats()
    box.stop()
    for _, _, p in clients:
        Procs.stop(p)

    problems = []
    if restarted is None:
        problems.append("the box was never restarted (served too little?)")
    elif restarted["hashed"]:
        problems.append("the restarted box rehashed the image (fastresume failed)")
    for kind, i, p in clients:
        path = os.path.join(work, f"c{i}", "img.qcow2")
        if (kind, i) not in done:
            problems.append(f"c{i} {kind} did not finish in {TIMEOUT} s:\n{tail(os.path.join(work, f'c{i}-{kind}.log'))}")
        elif kind == "aria2c" and p.returncode != 0:
            problems.append(f"c{i} aria2c exited {p.returncode}:\n{tail(os.path.join(work, f'c{i}-{kind}.log'))}")
        elif not os.path.exists(path) or sha256(path) != digest:
            problems.append(f"c{i} {kind}: {path} differs from the image")
    # ctorrent requests 128 KiB blocks: the box's events show what it sent to whom.
    per_kind = {}
    for ev in box.events():
        if ev.get("event") != "disconnected":
            continue
        ip = ev["peer"].rsplit(":", 1)[0]
        for kind, i, _ in clients:
            if ip == client_ip(i):
                b = per_kind.setdefault(kind, [0, 0])
                b[0] += ev["bytes_sent"]
                b[1] += ev["blocks_sent"]
    ctorrent_bytes, ctorrent_blocks = per_kind.get("ctorrent", [0, 0])
    if ctorrent_bytes == 0:
        problems.append("no data went from the box to the ctorrent clients")
    elif ctorrent_bytes / ctorrent_blocks < 100 * 1024:
        problems.append(f"ctorrent blocks average {ctorrent_bytes / ctorrent_blocks:.0f} bytes, not 128 KiB")
    by_kind = ", ".join(f"{k} {v[0] / 1e6:.0f} MB in {v[0] / max(v[1], 1) / 1024:.0f} KiB blocks"
                        for k, v in sorted(per_kind.items()))
    srv = stats["seeder"] if stats else {}
    tr = stats["tracker"] if stats else {}
    detail = (f"all {len(done)}/{len(clients)} done in {max(done.values(), default=0):.1f} s; "
              f"restart at {restarted and restarted['at']:.1f} s, down {restarted and restarted['downtime']:.2f} s; "
              f"box served {srv.get('bytes_served', 0) / 1e6:.0f} MB after restart "
              f"(+{(restarted or {}).get('served_before', 0) / 1e6:.0f} MB before), "
              f"box sent to {by_kind}; tracker announces {tr.get('announces')}")
    return problems, detail


def case_unknown_hash(binary, work, procs):
    img_dir = os.path.join(work, "images", "small")
    os.makedirs(img_dir)
    image = os.path.join(img_dir, "small.qcow2")
    make_image(image, 1)
    box = Box(binary, work, procs, [image])
    box.start()
    problems = []
    # A torrent of another file, announcing to the box: not whitelisted.
    other = os.path.join(work, "other.bin")
    with open(other, "wb") as f:
        f.write(os.urandom(300_000))
    foreign = os.path.join(work, "other.torrent")
    run(["ctorrent", "-t", "-u", f"http://{BOX_IP}:{TRACKER_PORT}/announce", "-l", "262144", "-s", foreign, other],
        capture_output=True)
    # Raw HTTP/1.0, as ctorrent sends it.
    path = (f"/announce?info_hash={'%41' * 20}&peer_id=-CD0303-abcdefghijkl&port=2706&uploaded=0"
            f"&downloaded=0&left=300000&event=started&compact=1&numwant=100&key=1")
    raw = http10(client_ns(0), BOX_IP, TRACKER_PORT, path)
    if not raw.startswith(b"HTTP/1.0 200") or b"failure reason" not in raw or b"5:peers" in raw:
        problems.append(f"raw HTTP/1.0 announce of an unknown hash not refused: {raw[:300]!r}")
    # aria2c with the foreign torrent for a few seconds.
    logf = os.path.join(work, "unknown-aria2c.log")
    d = os.path.join(work, "unknown")
    os.makedirs(d)
    p = procs.start(ns(client_ns(0), "timeout", "8", "aria2c", *ARIA2_LINBO, f"--dir={d}", f"--log={logf}", foreign),
                    os.path.join(work, "unknown-aria2c.out"))
    p.wait(30)
    time.sleep(0.6)
    st = box.stats()
    refused = st["tracker"]["refused_unknown"] if st else 0
    box.stop()
    aria_log = open(logf, errors="replace").read() if os.path.exists(logf) else ""
    if "unregistered torrent" not in aria_log:
        problems.append("aria2c did not report the tracker's refusal:\n" + tail(logf))
    if refused < 2:
        problems.append(f"tracker counted {refused} refused announces, expected >= 2")
    return problems, f"refused {refused} announces; aria2c saw 'unregistered torrent'"


def case_webseed(binary, work, procs):
    if not shutil.which("nginx"):
        return None, "SKIP: nginx not installed (apt-get install nginx-light)"
    root = os.path.join(work, "www")
    img_dir = os.path.join(root, "linbo", "images", "ws")
    os.makedirs(img_dir)
    image = os.path.join(img_dir, "ws.qcow2")
    digest = make_image(image, 32)
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off; master_process off; worker_processes 1; pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 64; }}
http {{ access_log {work}/nginx-access.log; sendfile on;
  client_body_temp_path {work}; proxy_temp_path {work}; fastcgi_temp_path {work};
  uwsgi_temp_path {work}; scgi_temp_path {work};
  server {{ listen {BOX_IP}:{HTTP_PORT}; root {root}; }} }}
""")
    nginx = procs.start(ns(NS_BOX, "nginx", "-c", conf, "-p", work), os.path.join(work, "nginx.out"))
    box = Box(binary, work, procs, [image], web_seed=f"http://{BOX_IP}:{HTTP_PORT}/linbo/images/ws/")
    info = box.start()[0]
    d = os.path.join(work, "ws-client")
    os.makedirs(d)
    logf = os.path.join(work, "ws-aria2c.log")
    p = procs.start(ns(client_ns(0), "aria2c", *ARIA2_LINBO, "--bt-exclude-tracker=*", f"--dir={d}",
                       f"--log={logf}.aria2", info["torrent"]), logf)
    try:
        rc = p.wait(90)
    except subprocess.TimeoutExpired:
        rc = None
    st = box.stats()
    box.stop()
    Procs.stop(nginx)
    problems = []
    out = os.path.join(d, "ws.qcow2")
    if rc != 0:
        problems.append(f"aria2c exited {rc}:\n{tail(logf)}")
    elif sha256(out) != digest:
        problems.append("web-seeded copy differs")
    ranges = sum(1 for l in open(os.path.join(work, "nginx-access.log")) if '" 206 ' in l)
    served = st["seeder"]["bytes_served"] if st else -1
    if ranges == 0:
        problems.append("nginx served no Range request")
    if served != 0:
        problems.append(f"the BitTorrent seeder served {served} bytes although no tracker was used")
    return problems, f"32 MiB via url-list: {ranges} Range requests to nginx"


CASES = {"swarm": case_swarm, "unknown-hash": case_unknown_hash, "webseed": case_webseed}


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    if os.geteuid() != 0:
        print("SKIP: the torrent e2e suite needs root (network namespaces)")
        return 0
    binary = os.path.abspath(sys.argv[1])
    wanted = sys.argv[2:] or list(CASES)
    passed = failed = 0
    for name in wanted:
        work = tempfile.mkdtemp(prefix="bbbt-e2e-")
        procs = Procs()
        t0 = time.time()
        try:
            net_up(len(CLIENTS))
            problems, detail = CASES[name](binary, work, procs)
        except Exception as e:  # noqa: BLE001 - report and go on with the next case
            problems, detail = [f"{type(e).__name__}: {e}"], ""
        finally:
            procs.stop_all()
            net_down()
        took = time.time() - t0
        if problems is None:
            print(f"SKIP {name}: {detail}", flush=True)
        elif problems:
            failed += 1
            print(f"FAIL {name} ({took:.0f} s): {detail}", flush=True)
            for p in problems:
                print("    " + p.replace("\n", "\n    "), flush=True)
            print(f"    logs kept in {work}", flush=True)
            continue
        else:
            passed += 1
            print(f"ok   {name} ({took:.0f} s): {detail}", flush=True)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
