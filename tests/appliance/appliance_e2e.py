#!/usr/bin/env python3
"""Appliance firmware end-to-end test: the real disk image in qemu (TCG).

Everything runs inside one network namespace this script creates: a bridge
(10.57.0.1/24) with dnsmasq as the school's DHCP server, and taps the VMs
plug into. Nothing touches the machine's real interfaces; the namespace and
every process are removed on exit (by PID, and by deleting the namespace).

Scenarios (each prints one PASS/FAIL line; timings are printed, not asserted):
  bios     SeaBIOS boots the image, DHCP lease from dnsmasq, /healthz answers;
           read-only root, /data mounted, the slot confirms itself.
           Then on the same disk:
  powercut-store   qemu killed while `bootbox hosts add` writes the registry
                   -> next boot is healthy, every acknowledged host is there
  powercut-update  qemu killed while an update writes slot B -> next boot
                   runs slot A (old firmware), slot B is not marked bootable
  update-good      a tampered bundle is refused by the API (400, slots unchanged);
                   signed bundle v2 uploaded by the API -> reboot -> v2 runs from slot B
  update-bad       bundle whose initramfs has no init -> kernel panic ->
                   GRUB falls back to B, rollback recorded, /data intact
  update-crashloop an update whose service cannot start (bad option in its
                   defaults) -> the supervisor's `firmware give-up` reboots,
                   GRUB falls back to B
  uefi     OVMF boots the same image, /healthz answers
  pxe      static-address: the setup wizard, in Chromium, gives the box a
                   fixed address (DHCP lease first); network.conf is written,
                   after a restart the box answers at the fixed address only
           pxe     the appliance (ProxyDHCP + TFTP + HTTP from the wizard's
                   settings) network-boots a second qemu PC (SeaBIOS + iPXE
                   ROM, -boot n) to its marker
           rsync   Debian's rsync client fetches start.conf from the
                   firmware's rsync service
           update-webui   bundle v2 uploaded with the settings page's
                   firmware button in Chromium -> reboot -> v2 in slot B,
                   network.conf untouched

Usage: appliance_e2e.py OUT_DIR_V1 OUT_DIR_V2 WORK [CASE ...]   (root)
OUT_DIR_V1/V2 are scripts/build-image outputs signed with the same key;
WORK holds the keys (WORK/keys) and scratch files.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

PREFIX = f"bbapp{os.getpid() % 100000}"
NS = f"{PREFIX}-lan"
BR_IP = "10.57.0.1"
BOX_IP = "10.57.0.10"
BOX_MAC = "52:54:00:ab:0a:10"
# The fixed address the pxe case sets in the setup wizard (dnsmasq leases
# BOX_IP to the box, so answering here proves the static configuration).
STATIC_IP = "10.57.0.11"
ADMIN_PW = "Appliance-2026-geheim"
WEBUI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "webui")
PC_MAC = "52:54:00:ab:0a:20"
BOOT_TIMEOUT = int(os.environ.get("APPLIANCE_BOOT_TIMEOUT", "240"))
RESULTS = []
TIMES = {}


def log(msg):
    print(f"[appliance] {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, text=True, **kw)


def ns(*cmd):
    return ["ip", "netns", "exec", NS, *cmd]


def read_env(path):
    env = {}
    with open(path) as fh:
        for line in fh:
            k, _, v = line.strip().partition("=")
            env[k] = v
    return env


# ---------------------------------------------------------------- network


def net_up(taps):
    run(["ip", "netns", "add", NS])
    ip = lambda *a: run(["ip", "-n", NS, *a])
    ip("link", "set", "lo", "up")
    ip("link", "add", "br0", "type", "bridge")
    ip("link", "set", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
    ip("addr", "add", f"{BR_IP}/24", "dev", "br0")
    ip("link", "set", "br0", "up")
    for t in taps:
        ip("tuntap", "add", "dev", t, "mode", "tap")
        ip("link", "set", t, "master", "br0", "up")


def net_down():
    pids = run(["ip", "netns", "pids", NS], check=False, capture_output=True).stdout.split()
    for p in pids:
        try:
            os.kill(int(p), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    run(["ip", "netns", "del", NS], check=False, stderr=subprocess.DEVNULL)


class Procs:
    """Processes started by the test, stopped by PID on exit."""

    def __init__(self):
        self.procs = []

    def start(self, cmd, **kw):
        p = subprocess.Popen(cmd, **kw)
        self.procs.append(p)
        return p

    @staticmethod
    def stop(p, sig=signal.SIGTERM):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p, signal.SIGKILL)


def start_dnsmasq(procs, work):
    conf = os.path.join(work, "dnsmasq.conf")
    with open(conf, "w") as fh:
        fh.write(f"""port=0
interface=br0
bind-interfaces
user=root
dhcp-authoritative
no-ping
dhcp-range=10.57.0.100,10.57.0.150,255.255.255.0,1h
dhcp-host={BOX_MAC},{BOX_IP}
dhcp-option=option:router,{BR_IP}
dhcp-leasefile={work}/dnsmasq.leases
log-dhcp
log-facility={work}/dnsmasq.log
""")
    return procs.start(ns("dnsmasq", "-k", f"--conf-file={conf}"), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def http_get(path, timeout=3, ip=BOX_IP):
    r = run(ns("curl", "-fsS", "--max-time", str(timeout), f"http://{ip}{path}"), check=False,
            capture_output=True)
    return r.stdout if r.returncode == 0 else None


# ---------------------------------------------------------------- VMs


class Vm:
    """A qemu VM whose serial console is this process's pipe."""

    def __init__(self, procs, name, work, cmd):
        self.name, self.work = name, work
        self.log_path = os.path.join(work, f"serial-{name}.log")
        self.buf = ""
        self.lock = threading.Lock()
        self.t0 = time.time()
        self.p = procs.start(ns(*cmd), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.seq = 0

    def _read(self):
        with open(self.log_path, "ab") as out:
            while True:
                chunk = self.p.stdout.read1(4096)
                if not chunk:
                    return
                out.write(chunk)
                out.flush()
                with self.lock:
                    self.buf += chunk.decode("utf-8", "replace")

    def mark(self):
        with self.lock:
            return len(self.buf)

    def expect(self, pattern, timeout=BOOT_TIMEOUT, since=0):
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        while time.time() < deadline:
            with self.lock:
                m = rx.search(self.buf, since)
            if m:
                return m
            if self.p.poll() is not None:
                raise RuntimeError(f"{self.name}: qemu exited waiting for {pattern!r}")
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: no {pattern!r} within {timeout}s (see {self.log_path})")

    def send(self, text):
        self.p.stdin.write(text.encode())
        self.p.stdin.flush()

    def shell(self, cmd, timeout=60):
        """Runs a command on the console shell; returns (status, output)."""
        self.seq += 1
        tag = f"__BB{self.seq}__"
        since = self.mark()
        self.send(f"{cmd}; echo {tag}$?{tag}\n")
        m = self.expect(rf"{tag}(\d+){tag}", timeout, since)
        with self.lock:
            out = self.buf[since:m.start()]
        # Drop the echoed command line (the console echoes until stty -echo).
        lines = [l for l in out.replace("\r", "").split("\n") if tag not in l]
        return int(m.group(1)), "\n".join(lines)

    def activate_console(self):
        self.expect(r"Please press Enter to activate this console")
        self.send("\n")
        time.sleep(0.5)
        self.shell("stty -echo 2>/dev/null; export PS1=''", 30)

    def kill(self):
        Procs.stop(self.p, signal.SIGKILL)
        self.reader.join(5)


def appliance_cmd(disk, firmware, tap, work, extra_disks=()):
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-m", "768", "-smp", "1", "-display", "none",
           "-monitor", "none", "-chardev", "stdio,id=ser0,signal=off", "-serial", "chardev:ser0",
           "-drive", f"file={disk},format=raw,if=virtio",
           "-netdev", f"tap,id=lan,ifname={tap},script=no,downscript=no",
           "-device", f"virtio-net-pci,netdev=lan,mac={BOX_MAC},romfile="]
    for d in extra_disks:
        cmd += ["-drive", f"file={d},format=raw,if=virtio,readonly=on"]
    if firmware == "uefi":
        vars_copy = os.path.join(work, "OVMF_VARS.fd")
        shutil.copy("/usr/share/OVMF/OVMF_VARS_4M.fd", vars_copy)
        cmd += ["-machine", "q35",
                "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
                "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}"]
    else:
        cmd += ["-machine", "pc"]
    return cmd


def wait_healthy(vm, timeout=BOOT_TIMEOUT, ip=BOX_IP):
    """Polls /healthz from the LAN; returns seconds since the VM started."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if vm.p.poll() is not None:
            raise RuntimeError(f"{vm.name}: qemu exited before /healthz answered")
        body = http_get("/healthz", 2, ip)
        if body and '"status":"ok"' in body:
            return time.time() - vm.t0
        time.sleep(0.5)
    raise RuntimeError(f"{vm.name}: /healthz did not answer within {timeout}s")


def firmware_status(vm):
    rc, out = vm.shell("bootbox firmware status --json")
    if rc != 0:
        raise RuntimeError(f"firmware status failed: {out}")
    import json
    line = [l for l in out.splitlines() if l.startswith("{")]
    return json.loads(line[-1])


def wait_confirmed(vm, slot, timeout=60):
    deadline = time.time() + timeout
    st = None
    while time.time() < deadline:
        st = firmware_status(vm)
        s = st["slots"][slot.lower()]
        if st["running"] == slot and s["ok"] and s["attempts_left"] == 3 and st["slots"]["order"][0] == slot:
            return st
        time.sleep(2)
    raise RuntimeError(f"slot {slot} not confirmed: {st}")


def result(name, problems, extra=""):
    ok = not problems
    RESULTS.append((name, ok))
    print(f"{'PASS' if ok else 'FAIL'} {name}{(' ' + extra) if extra else ''}"
          + ("" if ok else ": " + "; ".join(problems)), flush=True)


def copy_disk(src, dst):
    run(["cp", "--sparse=always", src, dst])


# ---------------------------------------------------------------- cases


def case_bios_and_ab(ctx):
    """bios boot, power cuts, good and bad updates, all on one disk."""
    work, v1, v2 = ctx["work"], ctx["v1"], ctx["v2"]
    disk = os.path.join(work, "disk-bios.img")
    copy_disk(os.path.join(v1, "bootbox.img"), disk)
    bundle2 = ctx["bundle2"]
    bad = ctx["bad_bundle"]
    ver1, ver2 = read_env(os.path.join(v1, "layout.env"))["VERSION"], read_env(os.path.join(v2, "layout.env"))["VERSION"]
    cmd = appliance_cmd(disk, "bios", "tap0", work, extra_disks=(bundle2, bad, ctx["crash_bundle"]))

    def boot(name):
        vm = Vm(ctx["procs"], name, work, cmd)
        t = wait_healthy(vm)
        vm.activate_console()
        return vm, t

    # --- bios: first boot
    problems = []
    vm, t = boot("bios-1")
    TIMES["bios"] = t
    rc, _ = vm.shell("touch /probe")
    if rc == 0:
        problems.append("root file system is writable")
    rc, out = vm.shell("grep -c ' /data ext4 ' /proc/mounts")
    if out.strip() != "1":
        problems.append("/data is not the ext4 data partition")
    st = wait_confirmed(vm, "A")
    if st["version"] != ver1:
        problems.append(f"running version {st['version']} != {ver1}")
    rc, out = vm.shell("grep VmRSS /proc/$(pidof bootbox)/status")
    m = re.search(r"VmRSS:\s+(\d+) kB", out)
    if m:
        TIMES["rss_kib"] = int(m.group(1))
    rc, banner = vm.shell("cat /run/bootbox-url")
    if f"http://{BOX_IP}/" not in banner:
        problems.append(f"console banner lacks the URL: {banner.strip()!r}")
    with open(os.path.join(work, "dnsmasq.log"), errors="replace") as fh:
        if not re.search(rf"DHCPACK\(br0\) {re.escape(BOX_IP)} {BOX_MAC}", fh.read()):
            problems.append("no DHCP lease from the school's DHCP server")
    result("bios", problems, f"boot-to-healthy {t:.1f}s, idle RSS {TIMES.get('rss_kib', '?')} KiB")

    # --- power cut during registry writes
    problems = []
    vm.shell("echo keep-me > /data/etc/marker; sync")
    vm.shell("touch /run/bootbox.disabled; kill $(cat /run/bootbox-supervise.pid); sleep 2")
    since = vm.mark()
    vm.send("i=0; while :; do bootbox --data /data/bootbox hosts add pc$i --mac 02:00:00:00:$(printf %02x $((i/256))):$(printf %02x $((i%256))) "
            "--room r1 --group g1 >/dev/null 2>&1 && echo ADDED-pc$i; i=$((i+1)); done\n")
    vm.expect(r"ADDED-pc5\b", 120, since)
    time.sleep(1.5)
    with vm.lock:
        added = re.findall(r"ADDED-pc(\d+)", vm.buf[since:])
    vm.kill()
    acked = max(int(a) for a in added)
    vm, t = boot("bios-2")
    vm.shell("touch /run/bootbox.disabled; kill $(cat /run/bootbox-supervise.pid); sleep 2")
    rc, out = vm.shell("bootbox --data /data/bootbox hosts list --json")
    names = set(re.findall(r'"hostname":\s*"(pc\d+)"', out))
    missing = [f"pc{i}" for i in range(acked + 1) if f"pc{i}" not in names]
    if rc != 0:
        problems.append(f"registry does not open after the power cut: {out.strip()[-300:]}")
    elif missing:
        problems.append(f"acknowledged hosts lost: {missing}")
    rc, out = vm.shell("cat /data/etc/marker")
    if out.strip() != "keep-me":
        problems.append("/data marker lost")
    result("powercut-store", problems, f"{acked + 1} hosts acknowledged before the cut, {len(names)} after")

    # --- power cut during an update
    problems = []
    since = vm.mark()
    vm.send("bootbox firmware install /dev/vdb --no-reboot\n")
    vm.expect(r"writing slot B: initramfs", 120, since)
    time.sleep(0.3)
    vm.kill()
    vm, t = boot("bios-3")
    st = firmware_status(vm)
    if st["running"] != "A" or st["version"] != ver1:
        problems.append(f"after the cut running {st['running']} {st['version']}, expected A {ver1}")
    if st["slots"]["b"]["ok"]:
        problems.append("half-written slot B is marked bootable")
    result("powercut-update", problems)

    # --- good update, through the API (admin token made on the console)
    problems = []
    wait_confirmed(vm, "A")
    vm.shell("touch /run/bootbox.disabled; kill $(cat /run/bootbox-supervise.pid); sleep 2")
    rc, out = vm.shell("bootbox --data /data/bootbox tokens create fw --scope admin 2>/dev/null")
    token = (re.findall(r"^(bbx\S+)$", out, re.M) or [""])[-1]
    vm.shell("rm /run/bootbox.disabled")
    wait_healthy(vm)
    auth = ["-H", f"Authorization: Bearer {token}"]
    r = run(ns("curl", "-sS", "--max-time", "10", *auth, f"http://{BOX_IP}/api/v1/firmware"), check=False,
            capture_output=True)
    if '"running":"A"' not in r.stdout:
        problems.append(f"GET /api/v1/firmware: {r.stdout.strip()[:200]}")
    tampered = os.path.join(work, "tampered.bundle")
    with open(bundle2, "rb") as fh:
        data = bytearray(fh.read())
    data[-1] ^= 1
    with open(tampered, "wb") as fh:
        fh.write(data)
    r = run(ns("curl", "-sS", "--max-time", "120", "-o", "/dev/null", "-w", "%{http_code}", *auth,
               "--data-binary", f"@{tampered}", "-H", "Content-Type: application/octet-stream",
               f"http://{BOX_IP}/api/v1/firmware"), check=False, capture_output=True)
    if r.stdout.strip() != "400":
        problems.append(f"tampered bundle answered {r.stdout.strip()}, expected 400")
    st = firmware_status(vm)
    if st["slots"]["b"]["ok"] or st["slots"]["order"][0] != "A":
        problems.append(f"tampered bundle changed the slots: {st}")
    since = vm.mark()
    r = run(ns("curl", "-sS", "--max-time", "120", "-o", "/dev/null", "-w", "%{http_code}", *auth,
               "--data-binary", f"@{bundle2}", "-H", "Content-Type: application/octet-stream",
               f"http://{BOX_IP}/api/v1/firmware"), check=False, capture_output=True)
    if r.stdout.strip() != "202":
        problems.append(f"POST /api/v1/firmware answered {r.stdout.strip()} {r.stderr.strip()}")
    vm.expect(r"bootbox-grub: booting slot B", 180, since)
    t_boot = time.time()
    t = wait_healthy(vm)
    vm.activate_console()
    try:
        st = wait_confirmed(vm, "B")
        if st["version"] != ver2:
            problems.append(f"slot B runs {st['version']}, expected {ver2}")
    except RuntimeError as e:
        problems.append(str(e))
    result("update-good", problems, f"reboot into B healthy after {time.time() - t_boot:.1f}s")

    # --- bad update: panics, falls back
    problems = []
    since = vm.mark()
    vm.send("bootbox firmware install /dev/vdc\n")
    vm.expect(r"installed \S+ into slot A", 180, since)
    vm.expect(r"bootbox-grub: booting slot A", 120, since)
    vm.expect(r"Kernel panic", 180, since)
    vm.expect(r"bootbox-grub: booting slot B", 120, since)
    t = wait_healthy(vm)
    vm.activate_console()
    try:
        st = wait_confirmed(vm, "B")
        if st["slots"]["a"]["ok"]:
            problems.append("failed slot A still marked ok")
        if st["version"] != ver2:
            problems.append(f"fallback runs {st['version']}, expected {ver2}")
    except RuntimeError as e:
        problems.append(str(e))
    rc, out = vm.shell("grep -c ROLLBACK /run/log/bootbox.log")
    if not out.strip().isdigit() or int(out.strip()) < 1:
        problems.append("rollback not reported by bootbox serve")
    rc, out = vm.shell("cat /data/etc/marker")
    if out.strip() != "keep-me":
        problems.append("/data marker lost")
    result("update-bad", problems)

    # --- update whose service crash-loops: the supervisor gives up, GRUB falls back
    problems = []
    since = vm.mark()
    vm.send("bootbox firmware install /dev/vdd\n")
    vm.expect(r"installed \S+ into slot A", 180, since)
    vm.expect(r"bootbox-grub: booting slot A", 120, since)
    vm.expect(r"slot A never became healthy; rebooting to fall back to slot B", 240, since)
    vm.expect(r"bootbox-grub: booting slot B", 120, since)
    wait_healthy(vm)
    vm.activate_console()
    try:
        st = wait_confirmed(vm, "B")
        if st["slots"]["a"]["ok"] or st["version"] != ver2:
            problems.append(f"after the crash loop: {st}")
    except RuntimeError as e:
        problems.append(str(e))
    result("update-crashloop", problems)
    vm.kill()


def case_uefi(ctx):
    work = ctx["work"]
    disk = os.path.join(work, "disk-uefi.img")
    copy_disk(os.path.join(ctx["v1"], "bootbox.img"), disk)
    vm = Vm(ctx["procs"], "uefi", work, appliance_cmd(disk, "uefi", "tap0", work))
    problems = []
    t = wait_healthy(vm)
    TIMES["uefi"] = t
    vm.activate_console()
    rc, _ = vm.shell("test -d /sys/firmware/efi")
    if rc != 0:
        problems.append("not booted through UEFI")
    try:
        wait_confirmed(vm, "A")
    except RuntimeError as e:
        problems.append(str(e))
    vm.kill()
    result("uefi", problems, f"boot-to-healthy {t:.1f}s")


MARKER_INIT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc
/bin/busybox mount -t proc proc /proc
arg() { /bin/busybox tr ' ' '\n' < /proc/cmdline | /bin/busybox sed -n "s/^$1=//p" | /bin/busybox head -n1; }
echo "BOOTBOX-APPLIANCE-PXE-OK group=$(arg hostgroup) host=$(arg hostname) server=$(arg server)"
/bin/busybox poweroff -f
"""

START_CONF = f"""[LINBO]
Server = {STATIC_IP}
Group = lab
Cache = /dev/sda2
DownloadType = rsync
KernelOptions = console=ttyS0,115200 panic=-1

[OS]
Name = Test
BaseImage = test.qcow2
Root = /dev/sda1
Kernel = boot/vmlinuz
"""


def build_marker_initrd(path, work):
    root = os.path.join(work, "marker-root")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "bin"))
    shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
    with open(os.path.join(root, "init"), "w") as fh:
        fh.write(MARKER_INIT)
    os.chmod(os.path.join(root, "init"), 0o755)
    files = run(["find", "."], cwd=root, capture_output=True).stdout
    cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet", "-R", "0:0"], cwd=root, input=files.encode(),
                          capture_output=True, check=True).stdout
    import gzip
    with open(path, "wb") as fh:
        fh.write(gzip.compress(cpio, 6))


def browser(action, *args):
    """tests/webui/appliance.mjs in the LAN namespace; (ok, its output line)."""
    env = dict(os.environ, ARTIFACTS=os.environ.get("ARTIFACTS", "/tmp/bootbox-appliance-artifacts"))
    os.makedirs(env["ARTIFACTS"], exist_ok=True)
    r = run(ns("node", os.path.join(WEBUI, "appliance.mjs"), action, *args), check=False,
            capture_output=True, env=env, timeout=400)
    out = (r.stdout.strip().splitlines() or [r.stderr.strip()[-300:]])[-1]
    return r.returncode == 0, out


def case_pxe(ctx):
    """The wizard in Chromium gives the box a fixed address; after a restart
    it is the boot server of a second VM, serves rsync, and installs an
    update through the web UI's firmware button."""
    work, v1, binary = ctx["work"], ctx["v1"], ctx["bootbox"]
    layout = read_env(os.path.join(v1, "layout.env"))
    disk = os.path.join(work, "disk-pxe.img")
    copy_disk(os.path.join(v1, "bootbox.img"), disk)
    # The data partition: hosts and start.conf imported, LINBO boot files.
    # No network.conf and no serve.conf: the wizard and the firmware's
    # defaults (TFTP and rsync on) do the rest.
    data = os.path.join(work, "pxe-data")
    shutil.rmtree(data, ignore_errors=True)
    src = os.path.join(work, "pxe-server")
    os.makedirs(src, exist_ok=True)
    with open(os.path.join(src, "devices.csv"), "w") as fh:
        fh.write(f"r1;pc-pxe;lab;{PC_MAC};DHCP;;;;;;1\n")
    with open(os.path.join(src, "start.conf.lab"), "w") as fh:
        fh.write(START_CONF)
    os.makedirs(os.path.join(data, "etc"))
    run([binary, "--data", os.path.join(data, "bootbox"), "import", "linuxmuster", src], stdout=subprocess.DEVNULL)
    linbo = os.path.join(data, "bootbox", "linbo")
    os.makedirs(linbo, exist_ok=True)
    shutil.copy(os.path.join(v1, "vmlinuz"), os.path.join(linbo, "linbo64"))
    build_marker_initrd(os.path.join(linbo, "linbofs64"), work)
    img = os.path.join(work, "pxe-data.ext4")
    if os.path.exists(img):
        os.remove(img)
    run(["mke2fs", "-q", "-t", "ext4", "-L", "bootbox-data", "-d", data, img,
         str(int(layout["DATA_SIZE"]) // 1024) + "k"], stdout=subprocess.DEVNULL)
    run(["dd", f"if={img}", f"of={disk}", "bs=1M", f"seek={int(layout['DATA_OFFSET']) // 1048576}",
         "conv=notrunc,sparse", "status=none"])

    # --- wizard: fixed address, then a restart
    problems = []
    box = Vm(ctx["procs"], "pxe-box", work, appliance_cmd(disk, "bios", "tap0", work))
    wait_healthy(box)
    box.activate_console()
    ok, out = browser("wizard", f"http://{BOX_IP}", ADMIN_PW, STATIC_IP, "24", BR_IP)
    if not ok:
        problems.append(f"wizard in Chromium: {out}")
    want = f"MODE=static\nINTERFACE=eth0\nADDRESS={STATIC_IP}/24\nGATEWAY={BR_IP}\n"
    conf = ""
    for _ in range(30):
        _, conf = box.shell("cat /data/etc/network.conf")
        if want in conf:
            break
        time.sleep(1)
    else:
        problems.append(f"network.conf after the wizard: {conf!r}")
    since = box.mark()
    box.send("reboot\n")
    box.expect(r"bootbox-grub: booting slot A", 120, since)
    box.t0 = time.time()
    t_restart = wait_healthy(box, ip=STATIC_IP)
    box.activate_console()
    _, addr = box.shell("ip -4 addr show dev eth0; ip route; ls /run/udhcpc")
    if f"inet {STATIC_IP}/24" not in addr or f"default via {BR_IP}" not in addr or "eth0.pid" in addr:
        problems.append(f"after the restart the LAN is not the fixed address: {addr!r}")
    if http_get("/healthz", 2, BOX_IP):
        problems.append(f"the box still answers on its DHCP address {BOX_IP}")
    result("static-address", problems, f"wizard in Chromium, restart healthy at {STATIC_IP} after {t_restart:.1f}s")

    # --- the appliance is the boot server of a PC
    problems = []
    sercon = os.path.join(work, "sercon-port.bin")
    with open(sercon, "wb") as fh:
        fh.write(b"\xf8\x03")
    t0 = time.time()
    pc = Vm(ctx["procs"], "pxe-pc", work, [
        "qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-smp", "1", "-display", "none", "-monitor", "none",
        "-chardev", "stdio,id=ser0,signal=off", "-serial", "chardev:ser0", "-no-reboot", "-machine", "pc",
        "-boot", "n", "-netdev", "tap,id=lan,ifname=tap1,script=no,downscript=no",
        "-device", f"e1000,netdev=lan,mac={PC_MAC}", "-fw_cfg", f"name=etc/sercon-port,file={sercon}"])
    try:
        m = pc.expect(r"BOOTBOX-APPLIANCE-PXE-OK group=(\S*) host=(\S*) server=(\S*)", BOOT_TIMEOUT)
        if (m.group(1), m.group(2), m.group(3)) != ("lab", "pc-pxe", STATIC_IP):
            problems.append(f"PC booted with identity {m.groups()}")
    except RuntimeError as e:
        problems.append(str(e))
    pc.kill()
    result("pxe", problems, f"PC reached its marker {time.time() - t0:.1f}s after power-on")

    # --- LINBO's rsync service of the firmware, with Debian's rsync client
    problems = []
    got = os.path.join(work, "rsync-start.conf")
    r = run(ns("rsync", "--timeout=30", f"rsync://{STATIC_IP}/linbo/start.conf.lab", got), check=False,
            capture_output=True)
    if r.returncode != 0:
        problems.append(f"rsync from the appliance failed ({r.returncode}): {r.stderr.strip()[:300]}")
    elif "Group = lab" not in open(got).read():
        problems.append("rsync fetched a start.conf without the group")
    result("rsync", problems, "rsync://" + STATIC_IP + "/linbo/start.conf.lab")

    # --- signed update through the settings page's firmware button
    problems = []
    since = box.mark()
    ok, out = browser("firmware", f"http://{STATIC_IP}", ADMIN_PW, ctx["bundle2"])
    if not ok:
        problems.append(f"firmware button in Chromium: {out}")
    else:
        try:
            box.expect(r"bootbox-grub: booting slot B", 180, since)
            wait_healthy(box, ip=STATIC_IP)
            box.activate_console()
            st = wait_confirmed(box, "B")
            want_ver = read_env(os.path.join(ctx["v2"], "layout.env"))["VERSION"]
            if st["version"] != want_ver:
                problems.append(f"slot B runs {st['version']}, expected {want_ver}")
            _, conf = box.shell("cat /data/etc/network.conf")
            if want not in conf:
                problems.append("the update changed network.conf")
        except RuntimeError as e:
            problems.append(str(e))
    box.kill()
    result("update-webui", problems, out)


CASES = {"bios-ab": case_bios_and_ab, "uefi": case_uefi, "pxe": case_pxe}


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    v1, v2, work = (os.path.abspath(a) for a in sys.argv[1:4])
    wanted = sys.argv[4:] or list(CASES)
    procs = Procs()
    ctx = {"v1": v1, "v2": v2, "work": work, "procs": procs, "bootbox": os.environ["BOOTBOX_BIN"],
           "bundle2": [os.path.join(v2, f) for f in os.listdir(v2) if f.endswith(".bundle")][0],
           "bad_bundle": os.path.join(work, "bad.bundle"), "crash_bundle": os.path.join(work, "crash.bundle")}

    def cleanup(*_):
        procs.stop_all()
        net_down()

    signal.signal(signal.SIGTERM, lambda *a: (cleanup(), sys.exit(1)))
    t0 = time.time()
    try:
        net_up(["tap0", "tap1"])
        start_dnsmasq(procs, work)
        for name in wanted:
            try:
                CASES[name](ctx)
            except Exception as e:  # one case's failure must not hide the others
                result(name, [f"{type(e).__name__}: {e}"])
                procs.stop_all()
                start_dnsmasq(procs, work)
    finally:
        cleanup()
    failed = [n for n, ok in RESULTS if not ok]
    print(f"timings: " + ", ".join(f"{k}={v:.1f}s" if isinstance(v, float) else f"{k}={v}" for k, v in TIMES.items())
          + f", suite {time.time() - t0:.0f}s", flush=True)
    print(f"{len(RESULTS) - len(failed)} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
