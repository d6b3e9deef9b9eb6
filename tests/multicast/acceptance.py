#!/usr/bin/env python3
"""udpcast acceptance run at full size (not part of scripts/test): Bootbox's
`mcast_send` against Debian's `udp-receiver` with LINBO's options, on a
namespaced bridge (mcnet.py), a 512 MB image:

    receivers-1, receivers-5, receivers-16   byte-identical
    loss-1, loss-5     16 receivers, 1 % / 5 % random loss on every receiver link
                       (nftables, both directions; this kernel has no sch_netem)
    slow               16 receivers, one throttled (tbf) to 10 % of the sender's rate
                       measured in receivers-16 of this run: it is dropped and reported
                       and exits; the 15 others are byte-identical and finish in
                       < 1.3x the unthrottled time (asserted here)
    killed             16 receivers, one killed (SIGKILL) mid-transfer: the others finish,
                       the session returns to waiting (round 2 announced)

Prints one line per case with its numbers and "N passed, N failed" last.
Usage: acceptance.py MCAST_SEND [CASE ...]
Environment: MC_ACCEPT_MB (512), MC_ACCEPT_RECEIVERS (16), MC_SLOW_RATIO (1.3).
"""

import json
import os
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcnet  # noqa: E402
from suite import check_all_ok, events_of, make_image, others_time  # noqa: E402
from transfer import Transfer, run_simple  # noqa: E402

SIZE = int(float(os.environ.get("MC_ACCEPT_MB", "512")) * 1_000_000)
N = int(os.environ.get("MC_ACCEPT_RECEIVERS", "16"))
RATIO = float(os.environ.get("MC_SLOW_RATIO", "1.3"))
TIMEOUT = 900


def timing(tr):
    start = tr.transfer_start()
    ends = [r.t_exit for r in tr.receivers if r.t_exit is not None]
    if start is None or not ends:
        return "no timing"
    t = max(ends) - start
    mbps = SIZE * 8 / t / 1e6
    w = tr.wire
    return (f"all complete {t:.1f}s after transfer start ({mbps:.0f} Mbit/s), "
            f"sender {w['sender_bytes'] / 1e6:.1f} MB / {w['sender_packets']} packets on the wire, "
            f"receivers {w['receivers_bytes'] / 1e3:.0f} kB")


def plain(ctx, n, loss=0.0):
    with mcnet.Lan(n) as lan:
        if loss:
            for i in range(1, n + 1):
                lan.loss(i, loss)
        tr = run_simple(lan, ctx["work"], ctx["image"], "bootbox", ctx["send"], timeout=TIMEOUT)
        problems = check_all_ok(tr)
        if tr.sender_rc != 0:
            problems.append(f"sender rc={tr.sender_rc} {tr.sender_log()}")
        ctx["note"] = timing(tr)
        if n == N and loss == 0:
            ctx["baseline"] = tr
        return problems


def case_slow(ctx):
    base = ctx.get("baseline")
    problems = []
    if base is None:
        problems += plain(ctx, N)
        base = ctx.get("baseline")
        if base is None or problems:
            return ["no unthrottled baseline"] + problems
    t_base = others_time(base, slow=1)
    rate = base.wire["sender_bytes"] * 8 / t_base
    with mcnet.Lan(N) as lan:
        lan.throttle(1, 0.1 * rate)
        tr = run_simple(lan, ctx["work"], ctx["image"], "bootbox", ctx["send"], timeout=TIMEOUT)
        problems += check_all_ok(tr, who=set(range(2, N + 1)))
        slow = tr.receivers[0]
        if slow.rc is None:
            problems.append("throttled receiver hung")
        elif slow.rc == 0:
            problems.append("throttled receiver was not dropped")
        drops = events_of(tr, "receiver_dropped")
        mine = [e for e in drops if e["ip"] == mcnet.receiver_ip(1)]
        if not mine or mine[0]["reason"]["kind"] != "slow":
            problems.append(f"no slow-receiver event: {drops}")
        if len(drops) != len(mine):
            problems.append(f"others dropped: {drops}")
        t = others_time(tr, slow=1)
        ratio = t / t_base if t else None
        ctx["note"] = (f"unthrottled {t_base:.1f}s; throttled to {0.1 * rate / 1e6:.0f} Mbit/s: dropped after "
                       f"{mine[0]['seconds']:.1f}s ({mine[0]['reason']}), others {t and round(t, 1)}s, "
                       f"ratio {ratio and round(ratio, 3)}; slow receiver exit {slow.rc} at "
                       f"{slow.t_exit and round(slow.t_exit - tr.transfer_start(), 1)}s: {slow.log(2)}"
                       if mine else "no drop")
        if ratio is None or ratio >= RATIO:
            problems.append(f"others took {ratio and round(ratio, 3)}x the unthrottled time (limit {RATIO})")
        return problems


def case_killed(ctx):
    with mcnet.Lan(N) as lan:
        tr = Transfer(lan, ctx["work"], ctx["image"])
        for i in range(1, N + 1):
            tr.start_receiver(i)
        time.sleep(0.5)
        tr.start_sender("bootbox", ctx["send"], ["--rounds", "2", "--max-wait", "5", "--restart-delay", "2"])
        victim = tr.receivers[0]
        killed_at = []

        def tick(t):
            start = t.transfer_start()
            if start is not None and victim.rc is None and t.now() > start + 5.0:
                lan.kill(victim.proc)
                killed_at.append(t.now() - start)

        def back_to_waiting(t):
            others = all(r.rc is not None for r in t.receivers[1:])
            return others and any(e.get("round") == 2 for e in events_of(t, "waiting"))

        problems = []
        if not tr.wait(back_to_waiting, TIMEOUT, tick):
            problems.append("others did not finish or the session did not return to waiting")
        tr.finish()
        problems += check_all_ok(tr, who=set(range(2, N + 1)))
        drops = [e for e in events_of(tr, "receiver_dropped") if e["ip"] == mcnet.receiver_ip(1)]
        if not drops:
            problems.append("killed receiver not reported")
        fin = events_of(tr, "transfer_finished")
        ctx["note"] = (f"killed {killed_at and round(killed_at[0], 1)}s into the transfer, dropped: "
                       f"{drops and drops[0]['reason']} after {drops and round(drops[0]['seconds'], 1)}s; "
                       f"round 1 {fin and fin[0]['outcome']}, finished {fin and fin[0]['finished']}; "
                       f"round 2 waiting: {any(e.get('round') == 2 for e in events_of(tr, 'waiting'))}")
        return problems


CASES = {
    "receivers-1": lambda c: plain(c, 1),
    "receivers-5": lambda c: plain(c, 5),
    "receivers-16": lambda c: plain(c, N),
    "loss-1": lambda c: plain(c, N, 1.0),
    "loss-5": lambda c: plain(c, N, 5.0),
    "slow": case_slow,
    "killed": case_killed,
}


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    send = os.path.abspath(sys.argv[1])
    wanted = sys.argv[2:] or list(CASES)
    work = tempfile.mkdtemp(prefix="bbmc-acc-")
    results = []
    try:
        ctx = {"send": send, "work": work, "image": make_image(os.path.join(work, "image.img"), SIZE)}
        print(f"image {SIZE / 1e6:.0f} MB, {N} receivers, udp-receiver --nosync --nokbd --interface eth0 "
              f"--rcvbuf 4194304 --portbase 9000 --file FIFO (read by cmp)", flush=True)
        for name in wanted:
            t0 = time.time()
            ctx.pop("note", None)
            try:
                problems = CASES[name](ctx)
            except Exception as e:
                problems = [f"{type(e).__name__}: {e}"]
            results.append((name, problems, ctx.get("note")))
            verdict = "PASS" if not problems else "FAIL"
            print(f"{verdict} {name} ({time.time() - t0:.0f}s) - {ctx.get('note')}"
                  + "".join(f"\n    {p}" for p in problems), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = os.environ.get("MC_ACCEPT_JSON")
    if out:
        with open(out, "w") as f:
            json.dump([{"case": n, "problems": p, "note": note} for n, p, note in results], f, indent=1)
    passed = sum(1 for _, p, _ in results if not p)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if results and passed == len(results) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
