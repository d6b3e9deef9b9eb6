"""A namespaced LAN for the udpcast tests and benchmark.

Everything lives in network namespaces created here, named
`bbmc<PID>-*`; nothing touches the machine's real interfaces:

    ns bbmc<PID>-h    br0 (bridge) with one veth per host plugged in
    ns bbmc<PID>-s    eth0 10.78.0.1/24   the sender
    ns bbmc<PID>-r<i> eth0 10.78.0.<10+i>/24   receiver i (1-based)

Every address is added with `brd +`: udpcast binds to the subnet
broadcast address and falls back to 224.0.0.1 without one.

Loss: `tc netem` is not always available (this machine's kernel has no
sch_netem), so link loss is made with nftables `numgen random` rules on the
receiver's eth0, ingress and egress (both directions of its link).
Throttling: `tc tbf` on the bridge port towards the receiver.

Processes are started through `Lan.popen` and killed by PID in `close()`,
which also deletes the namespaces; use `with Lan(...) as lan:`. SIGTERM and
SIGINT are turned into exceptions so the `finally` runs.
"""

import os
import signal
import subprocess
import sys
import time

NET = "10.78.0"
SENDER_IP = f"{NET}.1"


def receiver_ip(i):
    return f"{NET}.{10 + i}"


def _sh(argv, check=True):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()}")
    return r


def _raise_on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


class Lan:
    """One sender and `receivers` receivers on a bridge."""

    def __init__(self, receivers, tag=""):
        self.n = receivers
        self.prefix = f"bbmc{os.getpid()}{tag}"
        self.hub = f"{self.prefix}-h"
        self.sender = f"{self.prefix}-s"
        self.receivers = [f"{self.prefix}-r{i}" for i in range(1, receivers + 1)]
        self.procs = []
        self.created = []

    # ------------------------------------------------------------ set-up

    def __enter__(self):
        signal.signal(signal.SIGTERM, _raise_on_signal)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _ns(self, name):
        _sh(["ip", "netns", "add", name])
        self.created.append(name)
        _sh(["ip", "-n", name, "link", "set", "lo", "up"])

    def _plug(self, name, port, ip):
        # The veth is created in the hub and its peer moved straight into the
        # host's namespace: the root namespace never sees it.
        _sh(["ip", "-n", self.hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", name])
        _sh(["ip", "-n", self.hub, "link", "set", port, "master", "br0", "up"])
        _sh(["ip", "-n", name, "addr", "add", f"{ip}/24", "brd", "+", "dev", "eth0"])
        _sh(["ip", "-n", name, "link", "set", "eth0", "up"])

    def _build(self):
        self._ns(self.hub)
        _sh(["ip", "-n", self.hub, "link", "add", "br0", "type", "bridge"])
        _sh(["ip", "-n", self.hub, "link", "set", "br0", "up"])
        self._ns(self.sender)
        self._plug(self.sender, "s", SENDER_IP)
        for i, name in enumerate(self.receivers, 1):
            self._ns(name)
            self._plug(name, f"r{i}", receiver_ip(i))

    # ------------------------------------------------------------ impairments

    def loss(self, i, percent):
        """Random loss of `percent` % on receiver i's link, both directions."""
        per_mille = int(round(percent * 10))
        rules = (
            "table netdev bbmcloss {\n"
            f"  chain in {{ type filter hook ingress device \"eth0\" priority 0; "
            f"meta l4proto udp numgen random mod 1000 < {per_mille} drop; }}\n"
            f"  chain out {{ type filter hook egress device \"eth0\" priority 0; "
            f"meta l4proto udp numgen random mod 1000 < {per_mille} drop; }}\n"
            "}\n"
        )
        subprocess.run(["ip", "netns", "exec", self.receivers[i - 1], "nft", "-f", "-"],
                       input=rules, text=True, check=True)

    def block_unicast(self, i, port):
        """Drops every unicast UDP datagram to receiver i's own address and
        `port` (the sender's CONNECT_REPLYs; HELLOs are broadcast, data is
        multicast) until `unblock_unicast(i)`."""
        rules = (
            "table ip bbmcblock {\n"
            f"  chain in {{ type filter hook input priority 0; "
            f"ip daddr {receiver_ip(i)} udp dport {port} drop; }}\n"
            "}\n"
        )
        subprocess.run(["ip", "netns", "exec", self.receivers[i - 1], "nft", "-f", "-"],
                       input=rules, text=True, check=True)

    def unblock_unicast(self, i):
        _sh(["ip", "netns", "exec", self.receivers[i - 1], "nft", "delete", "table", "ip", "bbmcblock"],
            check=False)

    def throttle(self, i, bits_per_second):
        """Receiver i's link carries at most this rate towards it (tbf)."""
        rate = f"{int(bits_per_second)}bit"
        burst = max(int(bits_per_second / 8 / 250), 16 * 1514)
        _sh(["ip", "netns", "exec", self.hub, "tc", "qdisc", "add", "dev", f"r{i}", "root",
             "tbf", "rate", rate, "burst", str(burst), "latency", "50ms"])

    # ------------------------------------------------------------ processes

    def popen(self, ns, argv, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", ns, *argv], **kw)
        self.procs.append(p)
        return p

    def kill(self, p, sig=signal.SIGKILL):
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                self.kill(p, signal.SIGTERM)
        deadline = time.time() + 2
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.wait(max(0.05, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    self.kill(p, signal.SIGKILL)
                    try:
                        p.wait(2)
                    except subprocess.TimeoutExpired:
                        print(f"[mcnet] process {p.pid} did not die", file=sys.stderr)
        self.procs = []
        for name in reversed(self.created):
            _sh(["ip", "netns", "del", name], check=False)
        self.created = []


def leftover_namespaces():
    """Namespaces of this process still present (should be none)."""
    r = _sh(["ip", "netns", "list"], check=False)
    mine = f"bbmc{os.getpid()}"
    return [line.split()[0] for line in r.stdout.splitlines() if line.startswith(mine)]
