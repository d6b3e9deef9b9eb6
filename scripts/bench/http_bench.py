#!/usr/bin/env python3
"""HTTP download benchmark driver; called by scripts/bench/http, which has
installed nginx, built Bootbox, generated the file and created the network
namespace (and removes it and kills the servers listed in PIDFILE on exit).

    http_bench.py BOOTBOX WORK NS PIDFILE FILE REPORT

For every run, Bootbox then nginx: starts the server in NS, waits until it
serves the file, starts CLIENTS parallel curl downloads of it, waits for
all, checks status and size of each, reads the server's CPU time and peak
RSS from /proc, stops it. Then rewrites the "http" section of REPORT
(docs/benchmarks.md). Named http_bench.py, not http.py: a module called
`http` beside it would shadow Python's own.

Environment: RUNS (default 3), CLIENTS (20).
"""

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchdoc  # noqa: E402

PORTS = {"bootbox": 8080, "nginx": 8081}
NAME = "bench-1G.bin"


def log(msg):
    print(f"[http] {msg}", file=sys.stderr, flush=True)


def ns(name, *cmd):
    return ["ip", "netns", "exec", name, *cmd]


class Bench:
    def __init__(self, bootbox, work, netns, pidfile, path):
        self.bootbox, self.work, self.ns, self.pidfile, self.path = bootbox, work, netns, pidfile, path
        self.size = os.path.getsize(path)
        self.data = os.path.join(work, "data")
        self.linbo = os.path.join(self.data, "linbo")
        os.makedirs(self.linbo)
        target = os.path.join(self.linbo, NAME)
        try:
            os.link(path, target)  # same inode: both servers read the same cached pages
        except OSError:
            shutil.copy(path, target)
        # Warm the page cache once, so neither server pays for the disk.
        with open(target, "rb") as f:
            while f.read(16 << 20):
                pass

    def note_pid(self, pid):
        with open(self.pidfile, "a") as f:
            f.write(f"{pid}\n")

    def forget_pid(self, pid):
        with open(self.pidfile) as f:
            pids = [x.strip() for x in f if x.strip() and x.strip() != str(pid)]
        with open(self.pidfile, "w") as f:
            f.write("".join(f"{x}\n" for x in pids))

    def url(self, server):
        return f"http://127.0.0.1:{PORTS[server]}/linbo/{NAME}"

    def start(self, server):
        logf = open(os.path.join(self.work, f"{server}.log"), "a")
        if server == "bootbox":
            cmd = ns(self.ns, self.bootbox, "--data", self.data, "serve", "--http", f"127.0.0.1:{PORTS[server]}")
        else:
            d = os.path.join(self.work, "nginx")
            os.makedirs(d, exist_ok=True)
            conf = os.path.join(d, "nginx.conf")
            with open(conf, "w") as f:
                f.write(f"""# Minimal static file server for the benchmark (not the system's nginx).
daemon off;
user root;
worker_processes auto;
pid {d}/nginx.pid;
error_log {self.work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{PORTS[server]};
        location /linbo/ {{ alias {self.linbo}/; }}
    }}
}}
""")
            cmd = ns(self.ns, "nginx", "-c", conf, "-p", d + "/", "-e", os.path.join(self.work, "nginx-error.log"))
        # `ip netns exec` execs the server: the PID is the server's (nginx: the master).
        p = subprocess.Popen(cmd, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        self.note_pid(p.pid)
        for _ in range(100):
            r = subprocess.run(ns(self.ns, "curl", "-fsS", "-I", "--max-time", "2", self.url(server)),
                               capture_output=True, text=True)
            if r.returncode == 0:
                length = [line for line in r.stdout.splitlines() if line.lower().startswith("content-length:")]
                if not length or int(length[0].split(":")[1]) != self.size:
                    self.stop(p)
                    raise RuntimeError(f"{server}: HEAD gives {length}, expected {self.size}")
                return p
            if p.poll() is not None:
                raise RuntimeError(f"{server} exited with {p.returncode}; see {self.work}/{server}.log")
            time.sleep(0.1)
        self.stop(p)
        raise RuntimeError(f"{server} did not serve {self.url(server)}")

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.forget_pid(p.pid)

    def one(self, server, clients):
        p = self.start(server)
        try:
            procs = [p.pid] + benchdoc.children(p.pid)
            cpu0 = sum(benchdoc.proc_cpu_seconds(x) for x in procs)
            fmt = "%{http_code} %{size_download} %{time_total}\\n"
            t0 = time.perf_counter()
            curls = [subprocess.Popen(ns(self.ns, "curl", "-s", "-o", "/dev/null", "--max-time", "600", "-w", fmt,
                                         self.url(server)), stdout=subprocess.PIPE, text=True)
                     for _ in range(clients)]
            outs = [c.communicate()[0] for c in curls]
            total = time.perf_counter() - t0
            procs = [p.pid] + benchdoc.children(p.pid)
            cpu = sum(benchdoc.proc_cpu_seconds(x) for x in procs) - cpu0
            hwm = sum(benchdoc.proc_hwm_kb(x) for x in procs)
        finally:
            self.stop(p)
        times, bad = [], []
        for c, out in zip(curls, outs):
            parts = out.split()
            if c.returncode != 0 or len(parts) != 3 or parts[0] != "200" or int(float(parts[1])) != self.size:
                bad.append(f"curl exit {c.returncode}: {out.strip()!r}")
            else:
                times.append(float(parts[2]))
        if bad:
            raise RuntimeError(f"{server}: {len(bad)} of {clients} downloads failed: {bad[:3]}")
        res = {
            "server": server, "clients": clients, "total_s": total,
            "mb_s": clients * self.size / total / 1e6,
            "client_mean_s": statistics.fmean(times), "client_max_s": max(times),
            "cpu_s": cpu, "hwm_kb": hwm, "processes": len(procs),
        }
        log(f"{server:<8} {clients} x {self.size >> 20} MiB in {total:.2f} s = {res['mb_s']:.0f} MB/s, "
            f"CPU {cpu:.2f} s, peak RSS {hwm / 1024:.1f} MB ({len(procs)} processes)")
        return res


def main():
    bootbox, work, netns, pidfile, path, report = sys.argv[1:7]
    runs = int(os.environ.get("RUNS", "3"))
    clients = int(os.environ.get("CLIENTS", "20"))
    b = Bench(bootbox, work, netns, pidfile, path)
    results = {"bootbox": [], "nginx": []}
    for _ in range(runs):
        for server in results:
            results[server].append(b.one(server, clients))
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump(results, f, indent=1)

    def med(server, key):
        return statistics.median(r[key] for r in results[server])

    nginx_v = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1]
    curl_v = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split()[1]
    rows = []
    for server, label in (("bootbox", "Bootbox `/linbo/` (tower-http ServeFile)"), ("nginx", f"nginx {nginx_v}, sendfile on")):
        rows.append(f"| {label} | {med(server, 'total_s'):.2f} s | {med(server, 'mb_s'):,.0f} | "
                    f"{med(server, 'client_mean_s'):.2f} s | {med(server, 'cpu_s'):.2f} s | {med(server, 'hwm_kb') / 1024:.1f} MB |")
    ratio = med("bootbox", "mb_s") / med("nginx", "mb_s")
    cpu_ratio = med("bootbox", "cpu_s") / med("nginx", "cpu_s")
    rows.append(f"| **ratio Bootbox / nginx** | | **{ratio:.2f}×** throughput | | {cpu_ratio:.2f}× CPU | |")
    size_mib = b.size >> 20
    text = f"""<!-- http:begin -->
## HTTP: {clients} clients downloading a {size_mib} MiB file, Bootbox vs nginx

Run by `scripts/bench/http` on {time.strftime('%Y-%m-%d')}, {benchdoc.machine()}; curl {curl_v};
Bootbox release build. Loopback inside a network namespace; one server at a time, started fresh
for each run; both serve the same file (one inode, warm in the page cache). {clients} parallel
`curl -s -o /dev/null` downloads start together; "all complete" is the wall time until the last
one finished, MB/s = {clients} × {b.size:,} bytes / that time (10⁶ bytes). Server CPU is
utime+stime over the downloads (nginx: master + workers), peak RSS is VmHWM (summed over nginx's
processes). Every download is checked for status 200 and the full size. Median of {runs} runs.

| server | all complete | aggregate MB/s | mean per client | server CPU | server peak RSS |
|---|---|---|---|---|---|
{chr(10).join(rows)}

nginx hands the file to the kernel (`sendfile`: no copy through user space); Bootbox reads it
into user space on tokio's blocking pool (tower-http `ServeFile`, read size `FILE_CHUNK` in
`appliance/web/src/boot.rs`) and writes each chunk to the socket. Clients and
server share the same {os.cpu_count()} cores.
<!-- http:end -->
"""
    benchdoc.write_section(report, "http", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
