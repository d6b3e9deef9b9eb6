#!/usr/bin/env python3
"""udpcast benchmark driver: Debian's `udp-sender --full-duplex` against
Bootbox's sender (appliance/udpcast, example `mcast_send`), called by
scripts/bench/multicast (which builds the binary and installs the
packages).

    multicast.py MCAST_SEND REPORT

Same setup for both, alternating per run: a namespaced bridge (see
tests/multicast/mcnet.py) with one sender and RECEIVERS Debian
`udp-receiver`s run with LINBO's options, each writing into a FIFO that
`cmp` checks against the image; loss (0 % and 1 %) is random on every
receiver link, both directions (nftables; the kernel has no sch_netem).
Measured per run: time from the sender's start to the last receiver's
exit ("all complete"), time from the transfer start the sender reports,
bytes and packets on the wire (sender + receivers, from the interfaces'
counters), the sender's CPU time. Writes the "multicast" section of
REPORT (docs/benchmarks.md).

Environment: BENCH_MB (512), RECEIVERS (16), RUNS (1), LOSSES ("0 1").
"""

import os
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "multicast"))
import benchdoc  # noqa: E402
import mcnet  # noqa: E402
from suite import make_image  # noqa: E402
from transfer import Transfer  # noqa: E402

MB = float(os.environ.get("BENCH_MB", "512"))
N = int(os.environ.get("RECEIVERS", "16"))
RUNS = int(os.environ.get("RUNS", "1"))
LOSSES = [float(x) for x in os.environ.get("LOSSES", "0 1").split()]
# A HELLO lost at 1 % loss (or a lost CONNECT_REQ) leaves a stock receiver
# waiting forever: udp-sender sends one HELLO unless told to repeat it.
STOCK_ARGS = ["--rexmit-hello-interval", "1000"]


def one_run(kind, binary, image, loss, work):
    with mcnet.Lan(N) as lan:
        if loss:
            for i in range(1, N + 1):
                lan.loss(i, loss)
        tr = Transfer(lan, work, image)
        for i in range(1, N + 1):
            tr.start_receiver(i)
        time.sleep(0.5)
        args = STOCK_ARGS if kind == "udpcast" else []
        tr.start_sender(kind, binary, args)
        cpu = [0.0]

        def sample(t):
            if t.sender and t.sender.poll() is None:
                try:
                    cpu[0] = benchdoc.proc_cpu_seconds(t.sender.pid)
                except (OSError, ValueError, IndexError):
                    pass

        done = tr.wait(Transfer.all_done, 1800, sample)
        tr.finish()
        ok = sum(1 for r in tr.receivers if r.ok)
        ends = [r.t_exit for r in tr.receivers if r.t_exit is not None]
        start = tr.transfer_start()
        return {
            "ok": ok,
            "timed_out": not done,
            "all": (max(ends) - tr.t_sender) if ends and ok == N else None,
            "from_start": (max(ends) - start) if ends and start is not None and ok == N else None,
            "wire_mb": (tr.wire["sender_bytes"] + tr.wire["receivers_bytes"]) / 1e6,
            "sender_mb": tr.wire["sender_bytes"] / 1e6,
            "packets": tr.wire["sender_packets"] + tr.wire["receivers_packets"],
            "cpu": cpu[0],
            "log": tr.sender_log(4),
        }


def med(rs, key):
    vals = [r[key] for r in rs if r[key] is not None]
    return statistics.median(vals) if vals else None


def fmt(v, unit="", digits=1):
    return "—" if v is None else f"{v:.{digits}f}{unit}"


def version(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return (r.stdout.strip().splitlines() or ["?"])[0]


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    binary, report = os.path.abspath(sys.argv[1]), sys.argv[2]
    work = subprocess.run(["mktemp", "-d", "/tmp/bbmc-bench.XXXXXX"], stdout=subprocess.PIPE,
                          text=True, check=True).stdout.strip()
    try:
        image = make_image(os.path.join(work, "image.img"), int(MB * 1_000_000))
        results = {}
        for run in range(RUNS):
            for loss in LOSSES:
                order = ["udpcast", "bootbox"] if run % 2 == 0 else ["bootbox", "udpcast"]
                for kind in order:
                    print(f"[bench] run {run + 1}/{RUNS}, loss {loss} %, {kind}", file=sys.stderr, flush=True)
                    r = one_run(kind, binary if kind == "bootbox" else None, image, loss, work)
                    print(f"[bench]   {r}", file=sys.stderr, flush=True)
                    results.setdefault((loss, kind), []).append(r)
    finally:
        subprocess.run(["rm", "-rf", work])
    rows = []
    for loss in LOSSES:
        st, bb = results[(loss, "udpcast")], results[(loss, "bootbox")]
        for name, rs in (("Debian udp-sender --full-duplex", st), ("Bootbox mcast_send", bb)):
            oks = min(r["ok"] for r in rs)
            rows.append(f"| {loss:g} % | {name} | {oks}/{N} | {fmt(med(rs, 'all'), ' s')} | "
                        f"{fmt(med(rs, 'from_start'), ' s')} | {fmt(med(rs, 'wire_mb'), ' MB')} | "
                        f"{fmt(med(rs, 'packets'), '', 0)} | {fmt(med(rs, 'cpu'), ' s')} |")
        a, b = med(st, "all"), med(bb, "all")
        fa, fb = med(st, "from_start"), med(bb, "from_start")
        wa, wb = med(st, "wire_mb"), med(bb, "wire_mb")
        rows.append(f"| {loss:g} % | **ratio udp-sender / Bootbox** | | "
                    f"**{fmt(a / b if a and b else None, '×', 2)}** | {fmt(fa / fb if fa and fb else None, '×', 2)} | "
                    f"{fmt(wa / wb if wa and wb else None, '×', 3)} | | |")
    text = f"""<!-- multicast:begin -->
## Multicast (udpcast): Bootbox vs Debian's udp-sender, {N} receivers

Run by `scripts/bench/multicast` on {time.strftime('%Y-%m-%d')}, {benchdoc.machine()};
Debian `udpcast` {version(['dpkg-query', '-W', '-f', '${Version}', 'udpcast'])}. One sender and {N} Debian
`udp-receiver`s (LINBO's options: `--nosync --nokbd --interface eth0 --rcvbuf 4194304 --portbase
9000 --file F`) in network namespaces on one Linux bridge, all on the same 2 cores; each receiver
writes into a FIFO checked by `cmp` against the {MB:.0f} MB image (random bytes). Loss is random on
every receiver link in both directions (nftables `numgen`; this kernel has no `sch_netem`). Both
senders start with the receivers waiting and start when all {N} are connected:
`udp-sender --full-duplex --min-receivers {N} --nokbd {' '.join(STOCK_ARGS)}` (without the HELLO
repeat a lost HELLO/CONNECT_REQ at 1 % loss leaves a receiver waiting forever and the stock sender
never starts) and `mcast_send --min-clients {N}` (defaults: 256-block slices, slow-receiver policy
on, no rate limit). Median of {RUNS} run(s), senders alternating.

"all complete" is the time from the sender's start to the last receiver's exit (receivers exit
about 0.5 s after their last acknowledgement); it includes the stock sender's start delay (it checks
its start condition on a 2 s tick) and Bootbox's 0.3 s pause before the first data. "from transfer
start" counts from the sender's own "transfer started" message. Bytes on the wire: UDP datagrams
of the sender and all receivers as counted by their interfaces (Ethernet frames). Ratio > 1 means
Bootbox is faster / sends less.

| loss | sender | byte-identical | all complete | from transfer start | bytes on the wire | packets | sender CPU |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

On one machine the {N} receivers, the bridge and the sender share two cores, so the absolute rates
are bounded by the receivers' CPU; the ratio compares the senders under the same load.
"sender CPU" is the sender process's utime + stime; it includes the kernel's work of passing its
datagrams through the bridge to every receiver, done in the sender's context.
<!-- multicast:end -->
"""
    benchdoc.write_section(report, "multicast", text)
    print(text)
    bad = [k for k, rs in results.items() if any(r["ok"] != N for r in rs)]
    if bad:
        print(f"[bench] incomplete transfers: {bad}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
