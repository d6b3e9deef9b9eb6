"""udpcast transfers on a `mcnet.Lan`: receivers are Debian's stock
`udp-receiver` with LINBO's options, the sender is Bootbox's `mcast_send`
example or Debian's `udp-sender`.

Each receiver writes into a FIFO read by `cmp` against the original, so a
512 MB × 16 transfer needs no disk space and "byte-identical" is exactly
`cmp` exit status 0 (a short or failed transfer makes `cmp` see EOF).
"""

import json
import os
import subprocess
import threading
import time

RECEIVER = "udp-receiver"
STOCK_SENDER = "udp-sender"


def receiver_argv(port, fifo, keyboard=False):
    # LINBO's linbo_download_image options (minus --log).
    argv = [RECEIVER, "--nosync", "--interface", "eth0", "--rcvbuf", "4194304",
            "--portbase", str(port), "--file", fifo]
    if not keyboard:
        argv.insert(2, "--nokbd")
    return argv


def link_bytes(ns):
    r = subprocess.run(["ip", "-n", ns, "-s", "-j", "link", "show", "eth0"],
                       stdout=subprocess.PIPE, text=True, check=True)
    st = json.loads(r.stdout)[0]["stats64"]
    return st["tx"]["bytes"], st["tx"]["packets"]


class Reader(threading.Thread):
    """Collects a stream's lines (split at \\n and \\r) with arrival times."""

    def __init__(self, stream, t0):
        super().__init__(daemon=True)
        self.stream, self.t0, self.lines = stream, t0, []

    def run(self):
        buf = b""
        while True:
            chunk = self.stream.read1(65536)
            if not chunk:
                break
            buf += chunk
            while True:
                cuts = [i for i in (buf.find(b"\n"), buf.find(b"\r")) if i >= 0]
                if not cuts:
                    break
                cut = min(cuts)
                line, buf = buf[:cut], buf[cut + 1:]
                if line.strip():
                    self.lines.append((time.monotonic() - self.t0, line.decode(errors="replace")))
        if buf.strip():
            self.lines.append((time.monotonic() - self.t0, buf.decode(errors="replace")))


class Receiver:
    def __init__(self, i, proc, cmp, reader):
        self.i, self.proc, self.cmp, self.reader = i, proc, cmp, reader
        self.rc = None
        self.t_exit = None
        self.cmp_rc = None
        self.cmp_out = ""

    @property
    def ok(self):
        return self.rc == 0 and self.cmp_rc == 0

    def log(self, n=6):
        return [l for _, l in self.reader.lines][-n:]


class Transfer:
    """Receivers and one sender on a Lan; times are seconds since creation."""

    def __init__(self, lan, workdir, image, port=9000):
        self.lan, self.workdir, self.image, self.port = lan, workdir, image, port
        self.t0 = time.monotonic()
        self.receivers = []
        self.sender = None
        self.out = self.err = None
        self.sender_rc = None
        self.t_sender = None
        self.t_sender_exit = None
        self.before = {ns: link_bytes(ns) for ns in [lan.sender] + lan.receivers}

    def now(self):
        return time.monotonic() - self.t0

    def start_receiver(self, i, image=None, port=None, keyboard_after=None):
        image = image or self.image
        port = port or self.port
        fifo = os.path.join(self.workdir, f"r{i}-{port}-{len(self.receivers)}.fifo")
        if os.path.exists(fifo):
            os.unlink(fifo)
        os.mkfifo(fifo)
        cmp = subprocess.Popen(["cmp", fifo, image], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lan.procs.append(cmp)
        stdin = subprocess.DEVNULL if keyboard_after is None else subprocess.PIPE
        p = self.lan.popen(self.lan.receivers[i - 1], receiver_argv(port, fifo, keyboard_after is not None),
                           stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        rd = Reader(p.stderr, self.t0)
        rd.start()
        r = Receiver(i, p, cmp, rd)
        if keyboard_after is not None:
            def press():
                time.sleep(keyboard_after)
                try:
                    p.stdin.write(b"\n")
                    p.stdin.flush()
                except OSError:
                    pass
            threading.Thread(target=press, daemon=True).start()
        self.receivers.append(r)
        return r

    def start_sender(self, kind, binary=None, args=(), min_clients=None):
        mc = len(self.receivers) if min_clients is None else min_clients
        if kind == "bootbox":
            argv = [binary, "--interface", "eth0", "--file", self.image, "--portbase", str(self.port),
                    "--min-clients", str(mc), *args]
        elif kind == "udpcast":
            argv = [STOCK_SENDER, "--interface", "eth0", "--file", self.image, "--portbase", str(self.port),
                    "--min-receivers", str(mc), "--full-duplex", "--nokbd", *args]
        else:  # a full argv (e.g. mcast_serve)
            argv = list(args)
        self.t_sender = self.now()
        self.sender = self.lan.popen(self.lan.sender, argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out, self.err = Reader(self.sender.stdout, self.t0), Reader(self.sender.stderr, self.t0)
        self.out.start()
        self.err.start()

    def events(self):
        evs = []
        for t, line in list(self.out.lines if self.out else []):
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            ev["t"] = t
            evs.append(ev)
        return evs

    def poll(self):
        t = self.now()
        for r in self.receivers:
            if r.rc is None and r.proc.poll() is not None:
                r.rc, r.t_exit = r.proc.returncode, t
        if self.sender and self.sender_rc is None and self.sender.poll() is not None:
            self.sender_rc, self.t_sender_exit = self.sender.returncode, t

    def wait(self, until, timeout, tick=None):
        """Polls every 20 ms until `until(self)` is true; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            if tick:
                tick(self)
            if until(self):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    def receivers_done(self):
        return all(r.rc is not None for r in self.receivers)

    def all_done(self):
        return self.receivers_done() and (self.sender is None or self.sender_rc is not None)

    def stop_sender(self, sig=15):
        if self.sender and self.sender.poll() is None:
            self.lan.kill(self.sender, sig)
            try:
                self.sender.wait(5)
            except subprocess.TimeoutExpired:
                self.lan.kill(self.sender)
                self.sender.wait()
        self.poll()

    def finish(self):
        """Kills what is left, collects cmp results and link counters."""
        for r in self.receivers:
            if r.proc.poll() is None:
                self.lan.kill(r.proc)
                r.proc.wait()
        self.stop_sender()
        for r in self.receivers:
            try:
                r.cmp.wait(5)
            except subprocess.TimeoutExpired:
                self.lan.kill(r.cmp)
                r.cmp.wait()
            r.cmp_rc = r.cmp.returncode
            r.cmp_out = r.cmp.stdout.read().decode(errors="replace").strip() if r.cmp.stdout else ""
            r.reader.join(1)
        if self.out:
            self.out.join(1)
            self.err.join(1)
        after = {ns: link_bytes(ns) for ns in [self.lan.sender] + self.lan.receivers}
        s = self.lan.sender
        self.wire = {
            "sender_bytes": after[s][0] - self.before[s][0],
            "sender_packets": after[s][1] - self.before[s][1],
            "receivers_bytes": sum(after[n][0] - self.before[n][0] for n in self.lan.receivers),
            "receivers_packets": sum(after[n][1] - self.before[n][1] for n in self.lan.receivers),
        }
        return self

    def transfer_start(self):
        """When the sender says the transfer started (event or stderr line)."""
        for ev in self.events():
            if ev.get("event") == "transfer_started":
                return ev["t"]
        for t, line in list(self.err.lines if self.err else []):
            if "Starting transfer" in line:
                return t
        return None

    def sender_log(self, n=12):
        return [l for _, l in (self.err.lines if self.err else [])][-n:]

    def describe(self):
        parts = [f"r{r.i}:rc={r.rc},cmp={r.cmp_rc},t={r.t_exit and round(r.t_exit, 2)}" for r in self.receivers]
        return f"sender rc={self.sender_rc} start={self.transfer_start()} " + " ".join(parts)


def run_simple(lan, workdir, image, sender, binary=None, receivers=None, args=(), timeout=180,
               start_gap=0.5, port=9000):
    """Starts the receivers, then the sender (min clients = all); waits for
    everything to end; returns the finished Transfer."""
    tr = Transfer(lan, workdir, image, port)
    for i in receivers or range(1, lan.n + 1):
        tr.start_receiver(i)
    time.sleep(start_gap)
    tr.start_sender(sender, binary, args)
    tr.timed_out = not tr.wait(Transfer.all_done, timeout)
    return tr.finish()
