#!/usr/bin/env python3
"""udpcast interop suite: Bootbox's sender (`mcast_send` / `mcast_serve`
examples of appliance/udpcast) against Debian's stock `udp-receiver` run
with LINBO's options, on a bridge of network namespaces (see mcnet.py).

Cases (each prints PASS/FAIL with its time; the last line is
"N passed, N failed"):
    one, five, sixteen   1/5/16 receivers, byte-identical
    loss1, loss5         5 receivers, 1 % / 5 % random loss on every receiver link
    fec                  3 receivers, 1 % loss, --fec 8x8/128 (stock receivers decode our FEC)
    broadcast            3 receivers, data to the subnet broadcast
    rate                 1 receiver, --max-bitrate 200m
    slow                 5 receivers, one throttled (tbf) to 10 % of the rate measured
                         unthrottled in the same case, --slow-budget MC_SLOW_BUDGET (0.5 s):
                         it is dropped and reported and exits, the others are byte-identical;
                         the others' time / unthrottled time is printed, and asserted
                         < MC_SLOW_RATIO only if that is set (the acceptance run asserts 1.3)
    killed               5 receivers, one killed (SIGKILL) mid-transfer: the others finish,
                         the session returns to waiting and serves the PC when it comes back
    noreply              4 receivers, every CONNECT_REPLY to one of them lost until the end:
                         it is dropped, told to give up and exits (no hang); others identical
    late                 a receiver started during a transfer is not admitted (late joiner
                         event) and is served by the next round
    go                   a receiver's keypress (GO) starts the transfer at once
    shutdown             sender stopped mid-transfer: receivers give up instead of hanging
    service              mcast_serve: two images on 9000/9002 from one multicast.list
    box                  the real `bootbox serve --multicast`: sessions from the image tree's
                         multicast.list, a list change starts a new session without a restart,
                         transfers appear in the event API and in /metrics, SIGTERM stops cleanly

Usage: suite.py MCAST_SEND MCAST_SERVE [CASE ...]   (root; udpcast, nftables, iproute2)
The `box` case runs the binary named by MC_BOOTBOX (tests/multicast/run builds and sets it).
Environment: MC_SIZE_MB (image size, default 64), MC_BIG_RECEIVERS (default 16),
MC_SLOW_BUDGET (0.5), MC_SLOW_RATIO (0 = not asserted).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcnet  # noqa: E402
from transfer import Transfer, run_simple  # noqa: E402

SIZE = int(float(os.environ.get("MC_SIZE_MB", "64")) * 1_000_000)
BIG = int(os.environ.get("MC_BIG_RECEIVERS", "16"))
RATIO = float(os.environ.get("MC_SLOW_RATIO", "0"))
SLOW_BUDGET = os.environ.get("MC_SLOW_BUDGET", "0.5")
SMALL = min(SIZE, 16_000_000)


def make_image(path, size):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 4 << 20)
            f.write(os.urandom(n))
            left -= n
    return path


def check_all_ok(tr, who=None):
    problems = []
    if getattr(tr, "timed_out", False):
        problems.append("timed out")
    for r in tr.receivers:
        if who is not None and r.i not in who:
            continue
        if not r.ok:
            problems.append(f"receiver {r.i}: rc={r.rc} cmp={r.cmp_rc} {r.cmp_out!r} log={r.log()}")
    return problems


def events_of(tr, kind):
    return [e for e in tr.events() if e.get("event") == kind]


def dropped_event(tr, i):
    """The first receiver_dropped event of receiver i, or None."""
    ip = mcnet.receiver_ip(i)
    return next((e for e in events_of(tr, "receiver_dropped") if e.get("ip") == ip), None)


def simple(ctx, n, loss=0.0, args=(), size=None):
    image = ctx["image"] if size is None else ctx["small"]
    with mcnet.Lan(n) as lan:
        if loss:
            for i in range(1, n + 1):
                lan.loss(i, loss)
        tr = run_simple(lan, ctx["work"], image, "bootbox", ctx["send"], args=args)
        problems = check_all_ok(tr)
        if tr.sender_rc != 0:
            problems.append(f"sender rc={tr.sender_rc} {tr.sender_log()}")
        fin = events_of(tr, "transfer_finished")
        if not fin or fin[-1].get("finished") != n:
            problems.append(f"transfer_finished event: {fin}")
        ctx["last"] = tr
        return problems


def case_one(ctx):
    return simple(ctx, 1)


def case_five(ctx):
    return simple(ctx, 5)


def case_sixteen(ctx):
    return simple(ctx, BIG)


def case_loss1(ctx):
    return simple(ctx, 5, loss=1.0)


def case_loss5(ctx):
    return simple(ctx, 5, loss=5.0)


def case_fec(ctx):
    return simple(ctx, 3, loss=1.0, args=["--fec", "8x8/128"])


def case_broadcast(ctx):
    return simple(ctx, 3, args=["--broadcast"])


def case_rate(ctx):
    return simple(ctx, 1, args=["--max-bitrate", "200m"], size="small")


def others_time(tr, slow):
    """Seconds from transfer start to the last non-slow receiver's exit."""
    start = tr.transfer_start()
    ends = [r.t_exit for r in tr.receivers if r.i != slow and r.t_exit is not None]
    if start is None or len(ends) != len(tr.receivers) - 1:
        return None
    return max(ends) - start


def case_slow(ctx):
    problems = []
    n = 5
    with mcnet.Lan(n) as lan:
        base = run_simple(lan, ctx["work"], ctx["image"], "bootbox", ctx["send"])
        problems += [f"baseline: {p}" for p in check_all_ok(base)]
        t_base = others_time(base, slow=1)
        if problems or not t_base:
            return problems or ["baseline: no timing"]
        # The sender's data rate on the wire in the unthrottled run.
        rate = base.wire["sender_bytes"] * 8 / t_base
        lan.throttle(1, 0.1 * rate)
        tr = run_simple(lan, ctx["work"], ctx["image"], "bootbox", ctx["send"], port=9002,
                        args=["--slow-budget", SLOW_BUDGET])
        problems += check_all_ok(tr, who=set(range(2, n + 1)))
        slow = tr.receivers[0]
        if slow.rc is None:
            problems.append("throttled receiver hung")
        elif slow.rc == 0:
            problems.append("throttled receiver was not dropped (it finished)")
        dropped = [e for e in events_of(tr, "receiver_dropped") if e.get("ip") == mcnet.receiver_ip(1)]
        if not dropped or dropped[0]["reason"]["kind"] != "slow":
            problems.append(f"no slow-receiver drop event: {events_of(tr, 'receiver_dropped')}")
        others_wrongly = [e for e in events_of(tr, "receiver_dropped") if e.get("ip") != mcnet.receiver_ip(1)]
        if others_wrongly:
            problems.append(f"other receivers dropped: {others_wrongly}")
        t_slow = others_time(tr, slow=1)
        ratio = t_slow / t_base if t_slow else None
        ctx["note"] = (f"unthrottled {t_base:.2f}s, throttled to {0.1 * rate / 1e6:.1f} Mbit/s: "
                       f"others {t_slow and round(t_slow, 2)}s, ratio {ratio and round(ratio, 2)}")
        if RATIO and (ratio is None or ratio >= RATIO):
            problems.append(f"others took {ratio and round(ratio, 2)}x the unthrottled time (limit {RATIO})")
        return problems


def case_killed(ctx):
    n = 5
    with mcnet.Lan(n) as lan:
        tr = Transfer(lan, ctx["work"], ctx["image"])
        for i in range(1, n + 1):
            tr.start_receiver(i)
        time.sleep(0.5)
        # Rate-limited (as in `late` and `shutdown`): the kill must land mid-transfer.
        tr.start_sender("bootbox", ctx["send"], ["--rounds", "2", "--max-wait", "3", "--restart-delay", "1",
                                                 "--max-bitrate", "200m"])
        victim = tr.receivers[0]

        def tick(t):
            start = t.transfer_start()
            if start is not None and victim.rc is None and t.now() > start + 1.0:
                lan.kill(victim.proc)

        def round1_over(t):
            others = all(r.rc is not None for r in t.receivers[1:])
            return others and any(e.get("round") == 2 for e in events_of(t, "waiting"))

        problems = []
        if not tr.wait(round1_over, 120, tick):
            problems.append("round 1 did not end / session did not return to waiting")
        # The PC comes back: the next round serves it.
        back = tr.start_receiver(1)
        if not tr.wait(lambda t: back.rc is not None and t.sender_rc is not None, 60):
            problems.append("returning receiver was not served")
        tr.finish()
        problems += check_all_ok(tr, who={2, 3, 4, 5})
        if not back.ok:
            problems.append(f"returning receiver: rc={back.rc} cmp={back.cmp_rc} {back.log()}")
        dropped = dropped_event(tr, 1)
        if not dropped:
            problems.append("killed receiver not reported as dropped")
        else:
            ctx["note"] = f"killed receiver dropped: {dropped['reason']}"
        fins = events_of(tr, "transfer_finished")
        if len(fins) != 2 or any(f["outcome"]["kind"] != "complete" for f in fins):
            problems.append(f"expected two complete rounds: {fins}")
        return problems


def case_noreply(ctx):
    """Every CONNECT_REPLY to receiver 1 is lost until the transfer is over:
    it is dropped and reported, told to give up, and exits instead of
    waiting forever; the others are byte-identical."""
    n = 4
    with mcnet.Lan(n) as lan:
        lan.block_unicast(1, 9000)
        tr = Transfer(lan, ctx["work"], ctx["image"])
        for i in range(1, n + 1):
            tr.start_receiver(i)
        time.sleep(0.5)
        tr.start_sender("bootbox", ctx["send"], ["--slow-budget", SLOW_BUDGET])

        def tick(t):
            if events_of(t, "transfer_finished"):
                lan.unblock_unicast(1)

        problems = []
        if not tr.wait(Transfer.all_done, 120, tick):
            problems.append("timed out: a receiver or the sender hangs")
        tr.finish()
        problems += check_all_ok(tr, who={2, 3, 4})
        lost = tr.receivers[0]
        if lost.rc in (None, 0) or lost.rc < 0:
            problems.append(f"receiver without reply: rc={lost.rc} (expected a clean error exit) {lost.log()}")
        dropped = dropped_event(tr, 1)
        if not dropped:
            problems.append("receiver without reply not reported as dropped")
        else:
            ctx["note"] = f"dropped: {dropped['reason']}, exit {lost.rc}: {lost.log(4)}"
        return problems


def case_late(ctx):
    with mcnet.Lan(3) as lan:
        tr = Transfer(lan, ctx["work"], ctx["image"])
        tr.start_receiver(1)
        tr.start_receiver(2)
        time.sleep(0.5)
        tr.start_sender("bootbox", ctx["send"], ["--rounds", "2", "--max-wait", "2", "--restart-delay", "1",
                                                 "--max-bitrate", "200m"], min_clients=2)
        late = []

        def tick(t):
            if not late and t.transfer_start() is not None:
                time.sleep(0.5)
                late.append(t.start_receiver(3))

        problems = []
        if not tr.wait(Transfer.all_done, 120, tick):
            problems.append("timed out")
        tr.finish()
        problems += check_all_ok(tr)
        lj = [e for e in events_of(tr, "late_joiner") if e.get("ip") == mcnet.receiver_ip(3)]
        if not lj:
            problems.append("no late_joiner event")
        starts = events_of(tr, "transfer_started")
        if len(starts) != 2 or starts[1]["receivers"] != 1:
            problems.append(f"expected a second round for the late joiner: {starts}")
        return problems


def case_go(ctx):
    with mcnet.Lan(2) as lan:
        tr = Transfer(lan, ctx["work"], ctx["small"])
        tr.start_receiver(1, keyboard_after=1.5)
        tr.start_receiver(2)
        time.sleep(0.3)
        tr.start_sender("bootbox", ctx["send"], [], min_clients=99)
        problems = []
        if not tr.wait(Transfer.all_done, 60):
            problems.append("timed out")
        tr.finish()
        problems += check_all_ok(tr)
        starts = events_of(tr, "transfer_started")
        if not starts or starts[0]["reason"] != {"kind": "go", "ip": mcnet.receiver_ip(1)}:
            problems.append(f"not started by GO: {starts}")
        return problems


def case_shutdown(ctx):
    with mcnet.Lan(3) as lan:
        tr = Transfer(lan, ctx["work"], ctx["image"])
        for i in range(1, 4):
            tr.start_receiver(i)
        time.sleep(0.3)
        # Rate-limited so that the stop lands mid-transfer whatever the
        # machine's speed (unlimited, 64 MB can be through in about 1 s).
        tr.start_sender("bootbox", ctx["send"], ["--max-bitrate", "100m"])
        problems = []
        if not tr.wait(lambda t: t.transfer_start() is not None and t.now() > t.transfer_start() + 0.8, 30):
            problems.append("transfer did not start")
        tr.stop_sender(signal.SIGINT)
        if not tr.wait(Transfer.receivers_done, 10):
            problems.append("receivers still running 10 s after the sender stopped")
        tr.finish()
        if any(r.rc == 0 for r in tr.receivers):
            problems.append("a receiver claims success after an aborted transfer")
        if not any(e["outcome"]["kind"] == "shutdown" for e in events_of(tr, "transfer_finished")):
            problems.append("no shutdown outcome reported")
        return problems


def case_service(ctx):
    with mcnet.Lan(4) as lan:
        other = os.path.join(ctx["work"], "other.img")
        if not os.path.exists(other):
            make_image(other, SMALL // 2 + 777)
        listfile = os.path.join(ctx["work"], "multicast.list")
        tr = Transfer(lan, ctx["work"], ctx["small"])
        tr.start_receiver(1, ctx["small"], 9000)
        tr.start_receiver(2, ctx["small"], 9000)
        tr.start_receiver(3, other, 9002)
        tr.start_receiver(4, other, 9002)
        time.sleep(0.3)
        argv = [ctx["serve"], "--interface", "eth0", "--image", f"a.qcow2={ctx['small']}",
                "--image", f"b.qcow2={other}", "--min-clients", "2", "--min-wait", "0", "--max-wait", "20",
                "--list-out", listfile, "--status-every", "0.5"]
        tr.start_sender("argv", None, argv)
        problems = []

        def rounds_done(t):
            waits = [e for e in events_of(t, "waiting") if e.get("round") == 2]
            return t.receivers_done() and len({e["image"] for e in waits}) == 2

        if not tr.wait(rounds_done, 90):
            problems.append("sessions did not finish and return to waiting")
        tr.stop_sender(signal.SIGINT)
        tr.finish()
        problems += check_all_ok(tr)
        want = f"a.qcow2 {mcnet.SENDER_IP}:9000\nb.qcow2 {mcnet.SENDER_IP}:9002\n"
        got = open(listfile).read() if os.path.exists(listfile) else None
        if got != want:
            problems.append(f"multicast.list: {got!r}")
        status = [e for e in tr.events() if e.get("event") == "status"]
        seen = {s["image"]: s for e in status for s in e["sessions"] if s["receivers"]}
        if set(seen) != {"a.qcow2", "b.qcow2"}:
            problems.append(f"status snapshots lack per-receiver progress: {list(seen)}")
        if tr.sender_rc not in (0, None):
            problems.append(f"mcast_serve rc={tr.sender_rc} {tr.sender_log()}")
        return problems


def box_api(lan, path, token=None):
    argv = ["curl", "-sS", "--max-time", "5"]
    if token:
        argv += ["-H", f"Authorization: Bearer {token}"]
    r = subprocess.run(["ip", "netns", "exec", lan.sender, *argv, f"http://{mcnet.SENDER_IP}:8080{path}"],
                       capture_output=True, text=True, check=False)
    return r.stdout if r.returncode == 0 else ""


def every(seconds, pred):
    """`pred`, evaluated at most every `seconds` (Transfer.wait polls every 20 ms)."""
    state = {"next": 0.0, "last": False}

    def check(t):
        if time.monotonic() >= state["next"]:
            state["next"] = time.monotonic() + seconds
            state["last"] = pred(t)
        return state["last"]
    return check


def box_actions(lan, token):
    try:
        body = json.loads(box_api(lan, "/api/v1/events?limit=500", token) or "[]")
    except ValueError:
        return []
    events = body.get("events", []) if isinstance(body, dict) else body
    return [(e.get("action"), e.get("message", "")) for e in events]


def case_box(ctx):
    binary = os.environ.get("MC_BOOTBOX")
    if not binary or not os.access(binary, os.X_OK):
        return ["MC_BOOTBOX does not name the bootbox binary (tests/multicast/run sets it)"]
    data = tempfile.mkdtemp(prefix="bbmc-box-", dir=ctx["work"])
    images = os.path.join(data, "linbo", "images")
    os.makedirs(os.path.join(images, "win10"))
    first = os.path.join(images, "win10", "win10.qcow2")
    shutil.copyfile(ctx["small"], first)
    token = subprocess.run([binary, "--data", data, "tokens", "create", "mc", "--scope", "read"],
                           capture_output=True, text=True, check=True).stdout.strip()
    problems = []
    with mcnet.Lan(4) as lan:
        tr = Transfer(lan, ctx["work"], first)
        argv = [binary, "--data", data, "serve", "--http", f"{mcnet.SENDER_IP}:8080", "--interface", "eth0",
                "--server-ip", mcnet.SENDER_IP, "--dhcp", "off", "--multicast",
                "--multicast-min-clients", "2", "--multicast-min-seconds", "0", "--multicast-max-seconds", "20"]
        tr.start_sender("argv", None, argv)
        listfile = os.path.join(data, "linbo", "multicast.list")
        if not tr.wait(every(0.5, lambda t: any(a == "multicast.sessions" for a, _ in box_actions(lan, token))), 30):
            tr.stop_sender()
            tr.finish()
            return [f"no multicast sessions started: {tr.sender_log()}"]
        want = f"win10.qcow2 {mcnet.SENDER_IP}:9000\n"
        got = open(listfile).read() if os.path.exists(listfile) else None
        if got != want:
            problems.append(f"multicast.list written by the box: {got!r}")
        tr.start_receiver(1, first, 9000)
        tr.start_receiver(2, first, 9000)
        if not tr.wait(lambda t: t.receivers_done(), 90):
            problems.append("receivers of win10 did not finish")
        # A second image: the admin (or the image API) changes multicast.list;
        # the box starts the new session without a restart.
        os.makedirs(os.path.join(images, "ubuntu"))
        second = os.path.join(images, "ubuntu", "ubuntu.qcow2")
        make_image(second, SMALL // 2 + 333)
        tmp = listfile + ".new"
        with open(tmp, "w") as fh:
            fh.write(want + f"ubuntu.qcow2 {mcnet.SENDER_IP}:9002\n")
        os.rename(tmp, listfile)
        if not tr.wait(every(0.5, lambda t: any(a == "multicast.sessions" and "ubuntu.qcow2" in m
                                                for a, m in box_actions(lan, token))), 30):
            problems.append("the list change did not start a session for ubuntu.qcow2")
        tr.start_receiver(3, second, 9002)
        tr.start_receiver(4, second, 9002)
        if not tr.wait(lambda t: t.receivers_done(), 90):
            problems.append("receivers of ubuntu did not finish")
        actions = box_actions(lan, token)
        for image in ("win10.qcow2", "ubuntu.qcow2"):
            if not any(a == "multicast.finished" and image in m and "2 PC(s) complete" in m for a, m in actions):
                problems.append(f"event log lacks the finished transfer of {image}: {actions[-6:]}")
        # /metrics is sampled every 5 s.
        metric = 'bootbox_image_sent_bytes_total{image="win10",protocol="multicast"}'

        def sent(t):
            for line in box_api(lan, "/metrics").splitlines():
                if line.startswith(metric):
                    return int(float(line.split()[-1]))
            return 0
        if not tr.wait(every(1.0, lambda t: sent(t) >= os.path.getsize(first)), 20):
            problems.append(f"/metrics: {metric} = {sent(tr)}, want >= {os.path.getsize(first)}")
        tr.stop_sender(signal.SIGTERM)
        tr.finish()
        problems += check_all_ok(tr)
        if tr.sender_rc != 0:
            problems.append(f"bootbox serve rc={tr.sender_rc} {tr.sender_log()}")
    return problems


CASES = {
    "one": case_one,
    "five": case_five,
    "sixteen": case_sixteen,
    "loss1": case_loss1,
    "loss5": case_loss5,
    "fec": case_fec,
    "broadcast": case_broadcast,
    "rate": case_rate,
    "slow": case_slow,
    "killed": case_killed,
    "noreply": case_noreply,
    "late": case_late,
    "go": case_go,
    "shutdown": case_shutdown,
    "service": case_service,
    "box": case_box,
}


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    send, serve = (os.path.abspath(a) for a in sys.argv[1:3])
    wanted = sys.argv[3:] or list(CASES)
    unknown = [w for w in wanted if w not in CASES]
    if unknown:
        print(f"unknown case(s): {unknown}; known: {list(CASES)}", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="bbmc-")
    results = []
    try:
        ctx = {"send": send, "serve": serve, "work": work,
               "image": make_image(os.path.join(work, "image.img"), SIZE),
               "small": make_image(os.path.join(work, "small.img"), SMALL + 12345)}
        for name in wanted:
            t0 = time.time()
            ctx.pop("note", None)
            try:
                problems = CASES[name](ctx)
            except Exception as e:  # a broken case is a failed case; the others still run
                problems = [f"{type(e).__name__}: {e}"]
            results.append((name, problems))
            verdict = "PASS" if not problems else "FAIL"
            note = f" - {ctx['note']}" if ctx.get("note") else ""
            print(f"{verdict} {name} ({time.time() - t0:.1f}s){note}"
                  + "".join(f"\n    {p}" for p in problems), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        left = mcnet.leftover_namespaces()
        if left:
            print(f"namespaces left behind: {left}", file=sys.stderr)
    passed = sum(1 for _, p in results if not p)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and results else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
