#!/usr/bin/env python3
"""PXE end-to-end test: real firmware boots through Bootbox's ProxyDHCP.

Topology, all inside network namespaces this script creates (nothing
touches the machine's real interfaces):

    ns <p>-dhcp  eth0 10.55.0.1/24  dnsmasq: plain DHCP, no PXE options (the school's server)
    ns <p>-box   eth0 10.55.0.2/24  bootbox serve: ProxyDHCP, TFTP, HTTP
    ns <p>-lan   br0 + veths + taps  qemu PCs (TCG) plug into the taps
    ns <p>-cli   eth0 (no address)  busybox udhcpc, a non-PXE DHCP client

Scenarios (each must print its marker with its own MAC on the serial console):
    bios         SeaBIOS + iPXE NIC ROM            -> ProxyDHCP -> HTTP script -> kernel
    uefi         OVMF + iPXE EFI ROM               -> ProxyDHCP -> HTTP script -> kernel
    uefi-native  OVMF native PXE (virtio, no ROM)  -> ProxyDHCP + 4011 -> TFTP snponly.efi -> iPXE -> HTTP
    grub-bios    host on the GRUB chain, SeaBIOS (iPXE ROM as PXE stack) -> TFTP core.0 (grub-mkimage)
                 -> grub.cfg -> hostcfg/<mac>.cfg -> group menu -> linbo64 + linbofs64 over HTTP
    grub-uefi    the same with OVMF's native PXE (virtio) and core.efi
    grub-reboot  GRUB chain, a LINBO cache disk with a pending "reboot into OS" request in its
                 grubenv: the network GRUB boots the disk's kernel once, clears the request, and
                 the next boot is LINBO again
Negative cases:
    local-boot   registered host with boot mode "local": gets the script, never the kernel
    non-pxe      udhcpc gets its lease from dnsmasq; Bootbox sends it nothing
    linbo-files  start.conf.<group> rendered from the registry, served by HTTP and TFTP (tftp-hpa)
    torrent      an image uploaded by the API is seeded: aria2c (LINBO 7.4) and ctorrent -z 128 (LINBO 4.3)
    full-dhcp    no school DHCP server, Bootbox in full-DHCP mode gives the registered address
    box-off      Bootbox stopped: the PC does not boot

Prints one line per case and the closing line "N passed, N failed".
Usage: pxe_e2e.py BOOTBOX_BIN [CASE ...]    (root, /dev/net/tun, Debian packages installed)
       pxe_e2e.py --demo BOOTBOX_BIN         three PCs boot at once; prints their timelines
"""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("BOOTBOX_E2E_CACHE", "/var/cache/bootbox/e2e")
BOX_IP, DHCP_IP = "10.55.0.2", "10.55.0.1"
# Port 80, as on the appliance: GRUB 2.06 speaks HTTP to port 80 only.
HTTP_PORT = 80
HTTP = f"http://{BOX_IP}"
PREFIX = f"bbe2e{os.getpid() % 100000}"
NS_LAN, NS_DHCP, NS_BOX, NS_CLI = (f"{PREFIX}-{n}" for n in ("lan", "dhcp", "box", "cli"))
VM_TIMEOUT = int(os.environ.get("E2E_VM_TIMEOUT", "240"))

MACS = {
    "bios": "52:54:00:e2:e0:01",
    "uefi": "52:54:00:e2:e0:02",
    "uefi-native": "52:54:00:e2:e0:03",
    "local-boot": "52:54:00:e2:e0:04",
    "box-off": "52:54:00:e2:e0:05",
    "full-dhcp": "52:54:00:e2:e0:06",
    "grub-bios": "52:54:00:e2:e0:07",
    "grub-uefi": "52:54:00:e2:e0:08",
    "grub-reboot": "52:54:00:e2:e0:09",
}
FULL_DHCP_IP = "10.55.0.77"
CLIENT_MAC = "52:54:00:e2:e0:99"


def log(msg):
    print(f"[e2e] {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, text=True, **kw)


def ns(name, *cmd):
    return ["ip", "netns", "exec", name, *cmd]


# ---------------------------------------------------------------- artifacts


def kernel_and_modules():
    """The Debian kernel (downloaded as a package, never installed) and the NIC modules."""
    os.makedirs(CACHE, exist_ok=True)
    dep = run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True).stdout
    m = re.search(r"Depends: (linux-image-[0-9][^\s]*-amd64)", dep)
    if not m:
        raise RuntimeError("cannot resolve linux-image-amd64 (run apt-get update)")
    pkg = m.group(1)
    root = os.path.join(CACHE, pkg)
    vmlinuz = glob.glob(os.path.join(root, "boot", "vmlinuz-*"))
    if not vmlinuz:
        debs = glob.glob(os.path.join(CACHE, f"{pkg}_*.deb"))
        if not debs:
            log(f"downloading {pkg} (Debian package, extracted only)")
            run(["apt-get", "download", pkg], cwd=CACHE, stdout=subprocess.DEVNULL)
            debs = glob.glob(os.path.join(CACHE, f"{pkg}_*.deb"))
        tmp = root + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        run(["dpkg-deb", "-x", debs[0], tmp])
        # Keep only what the test needs: the kernel and the NIC drivers.
        keep = os.path.join(tmp, "keep")
        os.makedirs(os.path.join(keep, "boot"))
        for f in glob.glob(os.path.join(tmp, "boot", "vmlinuz-*")):
            shutil.copy(f, os.path.join(keep, "boot"))
        mods = os.path.join(keep, "modules")
        os.makedirs(mods)
        for name in NIC_MODULES:
            found = glob.glob(os.path.join(tmp, "lib", "modules", "*", "kernel", "**", name + ".ko*"), recursive=True)
            for f in found:
                shutil.copy(f, mods)
        shutil.rmtree(root, ignore_errors=True)
        os.rename(keep, root)
        shutil.rmtree(tmp, ignore_errors=True)
        for d in debs:
            os.remove(d)
        vmlinuz = glob.glob(os.path.join(root, "boot", "vmlinuz-*"))
    return vmlinuz[0], os.path.join(root, "modules")


NIC_MODULES = ["e1000", "virtio", "virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev",
               "virtio_pci", "failover", "net_failover", "virtio_net"]

INIT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /bin /sbin /usr/bin /usr/sbin /tmp
/bin/busybox --install -s
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for pass in 1 2 3 4; do
  for m in /modules/*.ko*; do
    case "$m" in *.xz) xz -dc "$m" > /tmp/m.ko && insmod /tmp/m.ko 2>/dev/null ;; *) insmod "$m" 2>/dev/null ;; esac
  done
done
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^$1=//p" | head -n1; }
NIC=$(ls /sys/class/net | grep -v '^lo$' | head -n1)
MAC=$(cat /sys/class/net/$NIC/address)
PLATFORM=pcbios; [ -d /sys/firmware/efi ] && PLATFORM=efi
echo "BOOTBOX-E2E-OK mac=$MAC nic=$NIC platform=$PLATFORM group=$(arg hostgroup) host=$(arg hostname) server=$(arg server)"
echo "BOOTBOX-E2E-CMDLINE $(cat /proc/cmdline)"
ip link set "$NIC" up
udhcpc -i "$NIC" -n -q -t 10 -s /bin/dhcp-script >/dev/null 2>&1
CB=$(arg bootbox.callback)
if [ -n "$CB" ] && wget -q -O - "$CB?mac=$MAC" >/tmp/cb 2>/dev/null; then echo "BOOTBOX-E2E-CALLBACK-OK $(cat /tmp/cb)"; fi
poweroff -f
"""

DHCP_SCRIPT = r"""#!/bin/busybox sh
[ "$1" = bound ] || exit 0
ip addr add "$ip/${mask:-24}" dev "$interface"
[ -n "$router" ] && ip route add default via "$router"
exit 0
"""


def build_initramfs(modules, out):
    root = tempfile.mkdtemp(prefix="bbe2e-initrd-")
    try:
        os.makedirs(os.path.join(root, "bin"))
        os.makedirs(os.path.join(root, "modules"))
        shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
        for f in os.listdir(modules):
            shutil.copy(os.path.join(modules, f), os.path.join(root, "modules"))
        for name, body in (("init", INIT), ("bin/dhcp-script", DHCP_SCRIPT)):
            p = os.path.join(root, name)
            with open(p, "w") as fh:
                fh.write(body)
            os.chmod(p, 0o755)
        files = run(["find", "."], cwd=root, capture_output=True).stdout
        cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=files.encode(),
                              capture_output=True, check=True).stdout
        import gzip
        with open(out, "wb") as fh:
            fh.write(gzip.compress(cpio, 6))
    finally:
        shutil.rmtree(root, ignore_errors=True)


START_CONF = f"""# start.conf of the e2e group: the KernelOptions make the test system talk
[LINBO]
Server = {BOX_IP}
Group = e2e
Cache = /dev/disk0p2
DownloadType = rsync
KernelOptions = console=ttyS0,115200 panic=-1 bootbox.callback={HTTP}/booted

[Partition]
Dev = /dev/disk0p1
Label = os
Size = 10G
Id = 83
FSType = ext4

[Partition]
Dev = /dev/disk0p2
Label = cache
Size =
Id = 83
FSType = ext4

[OS]
Name = Test system
BaseImage = test.qcow2
Root = /dev/disk0p1
Kernel = boot/vmlinuz
"""


def prepare_data(bootbox, data, vmlinuz, modules):
    """A data dir set up the way an admin would: linuxmuster import + boot files."""
    src = os.path.join(data, "..", "server")
    os.makedirs(src, exist_ok=True)
    lines = [f"e2e;pc-{name};e2e;{mac};{FULL_DHCP_IP if name == 'full-dhcp' else 'DHCP'};;;;;;1"
             for name, mac in MACS.items()]
    with open(os.path.join(src, "devices.csv"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    with open(os.path.join(src, "start.conf.e2e"), "w") as fh:
        fh.write(START_CONF)
    run([bootbox, "--data", data, "import", "linuxmuster", src], stdout=subprocess.DEVNULL)
    run([bootbox, "--data", data, "hosts", "boot", "pc-local-boot", "local"], stdout=subprocess.DEVNULL)
    for name in ("grub-bios", "grub-uefi", "grub-reboot"):
        run([bootbox, "--data", data, "hosts", "chain", f"pc-{name}", "grub"], stdout=subprocess.DEVNULL)
    token = run([bootbox, "--data", data, "tokens", "create", "e2e", "--scope", "images"], capture_output=True).stdout.strip()
    with open(os.path.join(data, "..", "token"), "w") as fh:
        fh.write(token)
    linbo = os.path.join(data, "linbo")
    ipxe = os.path.join(linbo, "boot", "ipxe")
    os.makedirs(ipxe, exist_ok=True)
    for f in ("undionly.kpxe", "snponly.efi", "ipxe.efi"):
        shutil.copy(os.path.join("/usr/lib/ipxe", f), ipxe)
    shutil.copy(vmlinuz, os.path.join(linbo, "linbo64"))
    build_initramfs(modules, os.path.join(linbo, "linbofs64"))


# ---------------------------------------------------------------- network


def net_up(taps):
    for n in (NS_LAN, NS_DHCP, NS_BOX, NS_CLI):
        run(["ip", "netns", "add", n])
    sh = lambda *a: run(["ip", "-n", NS_LAN, *a])
    sh("link", "set", "lo", "up")
    sh("link", "add", "br0", "type", "bridge")
    sh("link", "set", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
    sh("link", "set", "br0", "up")
    for port, peer_ns in (("v-dhcp", NS_DHCP), ("v-box", NS_BOX), ("v-cli", NS_CLI)):
        sh("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", peer_ns)
        sh("link", "set", port, "master", "br0", "up")
    for name, ip in ((NS_DHCP, DHCP_IP), (NS_BOX, BOX_IP)):
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        run(["ip", "-n", name, "addr", "add", f"{ip}/24", "dev", "eth0"])
        run(["ip", "-n", name, "link", "set", "eth0", "up"])
    run(["ip", "-n", NS_DHCP, "addr", "add", "fd55::1/64", "dev", "eth0", "nodad"])
    run(["ip", "-n", NS_CLI, "link", "set", "eth0", "address", CLIENT_MAC])
    run(["ip", "-n", NS_CLI, "link", "set", "eth0", "up"])
    for t in taps:
        sh("tuntap", "add", "dev", t, "mode", "tap")
        sh("link", "set", t, "master", "br0", "up")


def net_down():
    for n in (NS_LAN, NS_DHCP, NS_BOX, NS_CLI):
        pids = run(["ip", "netns", "pids", n], check=False, capture_output=True).stdout.split()
        for p in pids:
            try:
                os.kill(int(p), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        run(["ip", "netns", "del", n], check=False, stderr=subprocess.DEVNULL)


class Procs:
    """Processes started by the test, stopped by PID on exit."""

    def __init__(self):
        self.procs = []

    def start(self, cmd, **kw):
        p = subprocess.Popen(cmd, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)


def start_router(procs, work):
    conf = os.path.join(work, "dhcpsrv.conf")
    with open(conf, "w") as fh:
        fh.write(f"""port=0
interface=eth0
bind-interfaces
user=root
dhcp-authoritative
no-ping
dhcp-range=10.55.0.100,10.55.0.150,255.255.255.0,1h
dhcp-option=option:router,{DHCP_IP}
enable-ra
dhcp-range=::,constructor:eth0,ra-only,64
dhcp-leasefile={work}/dhcpsrv.leases
log-dhcp
log-facility={work}/dhcpsrv.log
""")
    return procs.start(ns(NS_DHCP, "dnsmasq", "-k", f"--conf-file={conf}"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_bootbox(procs, bootbox, data, work, dhcp=("--dhcp", "proxy")):
    logf = open(os.path.join(work, "bootbox.log"), "a")
    env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info,bootbox_proxydhcp=debug,bootbox_tftp=debug"))
    p = procs.start(ns(NS_BOX, bootbox, "--data", data, "serve", "--http", f"0.0.0.0:{HTTP_PORT}",
                       "--interface", "eth0", "--server-ip", BOX_IP, *dhcp, "--tftp", "--torrent"),
                    stdout=logf, stderr=logf, env=env)
    for _ in range(100):
        if box_get("/healthz") is not None:
            return p
        if p.poll() is not None:
            raise RuntimeError(f"bootbox exited with {p.returncode}; see {work}/bootbox.log")
        time.sleep(0.2)
    raise RuntimeError("bootbox did not answer /healthz")


def box_get(path):
    r = run(ns(NS_BOX, "curl", "-fsS", "--max-time", "5", f"http://127.0.0.1:{HTTP_PORT}{path}"), check=False, capture_output=True)
    return r.stdout if r.returncode == 0 else None


# ---------------------------------------------------------------- VMs


def qemu_cmd(kind, mac, tap, work, disk=None):
    base = ["qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-smp", "1", "-display", "none", "-vga", "std",
            "-monitor", "none", "-chardev", "stdio,id=ser0,signal=off", "-serial", "chardev:ser0", "-no-reboot",
            "-netdev", f"tap,id=lan,ifname={tap},script=no,downscript=no"]
    if disk:
        base += ["-drive", f"file={disk},format=raw,if=ide"]
    if kind == "bios":
        sercon = os.path.join(work, "sercon-port.bin")
        with open(sercon, "wb") as fh:
            fh.write(b"\xf8\x03")
        return base + ["-machine", "pc", "-boot", "order=n", "-device", f"e1000,netdev=lan,mac={mac},bootindex=1",
                       "-fw_cfg", f"name=etc/sercon-port,file={sercon}"]
    vars_copy = os.path.join(work, f"OVMF_VARS-{mac.replace(':', '')}.fd")
    shutil.copy("/usr/share/OVMF/OVMF_VARS_4M.fd", vars_copy)
    nic = f"e1000,netdev=lan,mac={mac},bootindex=1" if kind == "uefi" else f"virtio-net-pci,netdev=lan,mac={mac},bootindex=1,romfile="
    return base + ["-machine", "q35", "-boot", "order=n",
                   "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
                   "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}", "-device", nic]


def boot_vm(procs, kind, mac, tap, work, until, timeout=VM_TIMEOUT, disk=None, log_name=None):
    """Runs a VM until a serial line matches `until` (or it exits / times out). Returns the serial text."""
    serial_path = os.path.join(work, log_name or f"serial-{mac.replace(':', '')}.log")
    p = procs.start(ns(NS_LAN, *qemu_cmd(kind, mac, tap, work, disk)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL)
    lines, hit = [], threading.Event()

    def reader():
        with open(serial_path, "wb") as out:
            for raw in iter(p.stdout.readline, b""):
                out.write(raw)
                out.flush()
                line = raw.decode("utf-8", "replace")
                lines.append(line)
                if re.search(until, line):
                    hit.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    deadline = time.time() + timeout
    while time.time() < deadline and p.poll() is None and not hit.is_set():
        time.sleep(0.2)
    if hit.is_set():
        time.sleep(3)  # let the callback line through
    procs.stop(p, signal.SIGKILL)
    t.join(5)
    return "".join(lines)


def timeline(mac):
    body = box_get(f"/api/v1/hosts/{mac}/timeline")
    return json.loads(body) if body else {"events": [], "hints": []}


def steps_of(mac):
    return [e["step"] for e in timeline(mac)["events"]]


def wait_steps(mac, want, tries=30):
    steps = []
    for _ in range(tries):
        steps = steps_of(mac)
        if all(s in steps for s in want):
            break
        time.sleep(0.5)
    return steps


# ---------------------------------------------------------------- cases


def case_boot(ctx, kind):
    mac = MACS[kind]
    out = boot_vm(ctx["procs"], kind, mac, ctx["taps"][kind], ctx["work"], r"BOOTBOX-E2E-CALLBACK-OK")
    problems = []
    m = re.search(r"BOOTBOX-E2E-OK mac=(\S+) .*group=(\S*) host=(\S*) server=(\S*)", out)
    if not m:
        problems.append("no marker on the serial console")
    else:
        if m.group(1).lower() != mac:
            problems.append(f"marker has MAC {m.group(1)}")
        if (m.group(2), m.group(3), m.group(4)) != ("e2e", f"pc-{kind}", BOX_IP):
            problems.append(f"kernel command line identity wrong: {m.groups()[1:]}")
    if "BOOTBOX-E2E-CALLBACK-OK callback-ack" not in out:
        problems.append("no callback to the box")
    want = ["offer", "script", "file", "booted"] + (["tftp.done"] if kind == "uefi-native" else [])
    steps = wait_steps(mac, want)
    missing = [s for s in want if s not in steps]
    if missing:
        problems.append(f"timeline lacks {missing} (has {steps})")
    with open(os.path.join(ctx["work"], "dhcpsrv.log"), errors="replace") as fh:
        if not re.search(rf"DHCPACK\(eth0\) \S+ {mac}", fh.read()):
            problems.append("the router (dnsmasq) did not give this PC its address")
    return problems


def case_grub(ctx, name):
    """A host on the GRUB chain: the firmware gets the box's GRUB core (built by
    `bootbox serve` with grub-mkimage), GRUB loads the box's grub.cfg, finds the
    host's menu by MAC and boots LINBO's kernel with the group's KernelOptions."""
    if not shutil.which("grub-mkimage"):
        return ["grub-mkimage missing (grub-common, grub-pc-bin, grub-efi-amd64-bin)"]
    mac = MACS[name]
    kind = "bios" if name == "grub-bios" else "uefi-native"
    core = "boot/grub/i386-pc/core.0" if kind == "bios" else "boot/grub/x86_64-efi/core.efi"
    out = boot_vm(ctx["procs"], kind, mac, ctx["taps"][name], ctx["work"], r"BOOTBOX-E2E-CALLBACK-OK")
    problems = []
    if not re.search(rf"BOOTBOX-E2E-OK mac={mac}", out, re.I):
        problems.append("no marker on the serial console")
    m = re.search(r"BOOTBOX-E2E-CMDLINE (.*)", out)
    cmdline = m.group(1) if m else ""
    # The group menu's LINBO entry: the group's KernelOptions, netboot, the box.
    for want in ("console=ttyS0,115200", "netboot", f"bootboxserver={BOX_IP}", f"bootbox.callback={HTTP}/booted"):
        if want not in cmdline.split():
            problems.append(f"kernel command line lacks {want}: {cmdline!r}")
    if "BOOTBOX-E2E-CALLBACK-OK callback-ack" not in out:
        problems.append("no callback to the box")
    steps = wait_steps(mac, ["offer", "booted"])
    events = timeline(mac)["events"]
    if not any(e["step"] in ("offer", "ack") and core in e["detail"] for e in events):
        problems.append(f"the box did not offer {core} ({[(e['step'], e['detail']) for e in events]})")
    if "script" in steps:
        problems.append("the PC fetched the iPXE script although it is on the GRUB chain")
    return problems


def os_disk(work, vmlinuz_path, initrd_path):
    """A PC's disk as LINBO leaves it before "reboot into OS": one ext4 file system (label e2eos)
    holding LINBO's cache marker /start.conf, an OS kernel + initrd under /boot, and the cache's
    boot/grub/grubenv with the pending request (LINBO's reboot_* variables)."""
    root = os.path.join(work, "osdisk")
    os.makedirs(os.path.join(root, "boot", "grub"))
    with open(os.path.join(root, "start.conf"), "w") as fh:
        fh.write(START_CONF)
    shutil.copy(vmlinuz_path, os.path.join(root, "boot", "vmlinuz"))
    shutil.copy(initrd_path, os.path.join(root, "boot", "initrd.img"))
    env = os.path.join(root, "boot", "grub", "grubenv")
    run(["grub-editenv", env, "create"])
    run(["grub-editenv", env, "set", "reboot_label=e2eos", "reboot_kernel=/boot/vmlinuz",
         "reboot_initrd=/boot/initrd.img", "reboot_append=console=ttyS0,115200 panic=-1 bootbox.rebooted=yes"])
    disk = os.path.join(work, "osdisk.img")
    run(["mkfs.ext4", "-q", "-F", "-L", "e2eos", "-O", "^metadata_csum", "-d", root, disk, "96M"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return disk


def grubenv_of(disk):
    out = run(["debugfs", "-R", "cat /boot/grub/grubenv", disk], capture_output=True, check=False).stdout
    return dict(l.split("=", 1) for l in out.splitlines() if "=" in l and not l.startswith("#"))


def case_grub_reboot(ctx):
    """LINBO's "reboot into OS" over the GRUB chain: the network GRUB finds the local cache,
    honours its grubenv request once (boots the OS kernel from the disk), clears it, and the
    next boot is LINBO from the network again."""
    for tool in ("grub-mkimage", "grub-editenv", "mkfs.ext4", "debugfs"):
        if not shutil.which(tool):
            return [f"{tool} missing (grub-common, grub-pc-bin, e2fsprogs)"]
    mac, work = MACS["grub-reboot"], ctx["work"]
    linbo = os.path.join(ctx["data"], "linbo")
    disk = os_disk(work, os.path.join(linbo, "linbo64"), os.path.join(linbo, "linbofs64"))
    problems = []
    if grubenv_of(disk).get("reboot_label") != "e2eos":
        return [f"test disk has no pending request: {grubenv_of(disk)}"]
    first = boot_vm(ctx["procs"], "bios", mac, ctx["taps"]["grub-reboot"], work, r"BOOTBOX-E2E-CMDLINE",
                    disk=disk, log_name="serial-grub-reboot-1.log")
    m = re.search(r"BOOTBOX-E2E-CMDLINE (.*)", first)
    words = m.group(1).split() if m else []
    if "bootbox.rebooted=yes" not in words:
        problems.append(f"first boot did not start the disk's OS kernel: {words}")
    if "netboot" in words:
        problems.append("first boot started LINBO although a reboot request was pending")
    env = grubenv_of(disk)
    left = {k: v for k, v in env.items() if k.startswith("reboot_") and v}
    if left:
        problems.append(f"the request was not cleared in the cache's grubenv: {left}")
    second = boot_vm(ctx["procs"], "bios", mac, ctx["taps"]["grub-reboot"], work, r"BOOTBOX-E2E-CMDLINE",
                     disk=disk, log_name="serial-grub-reboot-2.log")
    m = re.search(r"BOOTBOX-E2E-CMDLINE (.*)", second)
    words = m.group(1).split() if m else []
    if "bootbox.rebooted=yes" in words or "netboot" not in words:
        problems.append(f"second boot was not LINBO from the network: {words}")
    return problems


def case_local_boot(ctx):
    mac = MACS["local-boot"]
    out = boot_vm(ctx["procs"], "bios", mac, ctx["taps"]["local-boot"], ctx["work"], r"Booting from local disk", timeout=VM_TIMEOUT)
    problems = []
    if "boot mode: local disk" not in out:
        problems.append("the PC did not get the local-boot script")
    steps = wait_steps(mac, ["script"])
    if "file" in steps or "BOOTBOX-E2E-OK" in out:
        problems.append(f"the PC downloaded a kernel (timeline {steps})")
    return problems


def case_non_pxe(ctx):
    procs, work = ctx["procs"], ctx["work"]
    cap = os.path.join(work, "non-pxe.pcap")
    dump = procs.start(ns(NS_LAN, "tcpdump", "-i", "br0", "-n", "-U", "-w", cap, "udp and src host " + BOX_IP),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    r = run(ns(NS_CLI, "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "4", "-T", "2", "-s", "/bin/true"),
            check=False, capture_output=True)
    time.sleep(1.5)
    procs.stop(dump)
    problems = []
    if "lease of" not in (r.stdout + r.stderr):
        problems.append(f"udhcpc got no lease from the router: {r.stderr.strip()[-200:]}")
    decoded = run(["tcpdump", "-r", cap, "-n", "-e"], check=False, capture_output=True).stdout
    if CLIENT_MAC in decoded.lower() or "BOOTP/DHCP" in decoded:
        problems.append("Bootbox sent DHCP traffic to the non-PXE client:\n" + decoded[:500])
    metrics = box_get("/metrics") or ""
    if not re.search(r'bootbox_dhcp_ignored_total\{reason="not_pxe"\} [1-9]', metrics):
        problems.append("Bootbox did not count the non-PXE request as ignored")
    return problems


def case_linbo_files(ctx):
    """The registry's start.conf reaches LINBO clients by HTTP and TFTP (real tftp-hpa client)."""
    problems = []
    body = None
    for _ in range(20):  # rendered by the box within a few seconds of a change
        body = box_get("/linbo/start.conf.e2e")
        if body:
            break
        time.sleep(0.5)
    if not body or "Group = e2e" not in body:
        problems.append(f"GET /linbo/start.conf.e2e gave {body!r}")
    mac_link = box_get(f"/linbo/start.conf-{MACS['bios']}")
    if mac_link != body:
        problems.append("the legacy start.conf-<mac> link does not serve the group's file")
    out = os.path.join(ctx["work"], "tftp-start.conf")
    run(["ip", "-n", NS_CLI, "addr", "add", "10.55.0.250/24", "dev", "eth0"], check=False)
    r = run(ns(NS_CLI, "tftp", "-m", "binary", BOX_IP, "-c", "get", "start.conf.e2e", out), check=False,
            capture_output=True)
    run(["ip", "-n", NS_CLI, "addr", "del", "10.55.0.250/24", "dev", "eth0"], check=False)
    got = open(out).read() if os.path.exists(out) else ""
    if got != body:
        problems.append(f"TFTP download differs ({r.stderr.strip()[:200]})")
    return problems


def case_torrent(ctx):
    """An image uploaded through the API is seeded by the box: LINBO's torrent clients
    (aria2c with LINBO 7.4's options, `ctorrent -z 128` as LINBO 4.3 ran it) get it byte-identical."""
    work, problems = ctx["work"], []
    image = os.path.join(work, "e2eimg.qcow2")
    with open(image, "wb") as fh:
        fh.write(os.urandom(12 << 20))
    want = run(["sha256sum", image], capture_output=True).stdout.split()[0]
    token = open(os.path.join(ctx["data"], "..", "token")).read().strip()
    r = run(ns(NS_BOX, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Authorization: Bearer {token}",
               "-H", f"X-Image-Sha256: {want}", "--upload-file", image,
               f"http://127.0.0.1:{HTTP_PORT}/api/v1/images/e2eimg/files/e2eimg.qcow2"), capture_output=True, check=False)
    if r.stdout.strip() != "201":
        return [f"upload answered {r.stdout.strip()} {r.stderr.strip()[:200]}"]
    hash_url = "/linbo/images/e2eimg/e2eimg.qcow2.hash"
    for _ in range(60):
        if box_get(hash_url):
            break
        time.sleep(0.5)
    else:
        return ["the box wrote no .hash for the uploaded image"]
    run(["ip", "-n", NS_CLI, "addr", "add", "10.55.0.251/24", "dev", "eth0"], check=False)
    try:
        torrent = os.path.join(work, "e2eimg.qcow2.torrent")
        run(ns(NS_CLI, "curl", "-fsS", "-o", torrent, f"{HTTP}/linbo/images/e2eimg/e2eimg.qcow2.torrent"))
        for kind in ("aria2c", "ctorrent"):
            d = os.path.join(work, f"dl-{kind}")
            os.makedirs(d)
            if kind == "aria2c":
                cmd = ["aria2c", "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
                       "--enable-peer-exchange=false", "--disable-ipv6=true", "-c", "--seed-time=0",
                       "--seed-ratio=0.0", "--console-log-level=warn", f"--dir={d}", torrent]
            else:
                cmd = ["ctorrent", "-e", "0", "-I", "10.55.0.251", "-m", "1", "-M", "100", "-z", "128",
                       "-s", os.path.join(d, "e2eimg.qcow2"), torrent]
            out = run(ns(NS_CLI, "timeout", "120", *cmd), check=False, capture_output=True, cwd=d)
            got = os.path.join(d, "e2eimg.qcow2")
            digest = run(["sha256sum", got], capture_output=True, check=False).stdout.split()[:1]
            if digest != [want]:
                problems.append(f"{kind} (exit {out.returncode}) did not get the image: {(out.stdout + out.stderr)[-300:]}")
        # One plain HTTP download too, then the per-image transfer metrics
        # (sampled every 5 s) show both protocols.
        run(ns(NS_CLI, "curl", "-fsS", "-o", "/dev/null", f"{HTTP}/linbo/images/e2eimg/e2eimg.qcow2"), check=False)
        size = os.path.getsize(image)
        got = {}
        for _ in range(30):
            got = image_metrics("e2eimg")
            if got.get("torrent", 0) >= size and got.get("http", 0) >= size:
                break
            time.sleep(1)
        else:
            problems.append(f"/metrics per-image bytes for e2eimg: {got}, want torrent and http >= {size}")
        # An unknown info-hash is refused by the box's tracker.
        r = run(ns(NS_CLI, "curl", "-s", f"http://{BOX_IP}:6969/announce?info_hash=%00%01%02%03%04%05%06%07%08%09"
                   "%0a%0b%0c%0d%0e%0f%10%11%12%13&peer_id=-XX0000-000000000000&port=6881&left=0&compact=1"),
                check=False, capture_output=True)
        if "failure reason" not in r.stdout:
            problems.append(f"tracker answered an unknown info-hash: {r.stdout[:200]!r}")
    finally:
        run(["ip", "-n", NS_CLI, "addr", "del", "10.55.0.251/24", "dev", "eth0"], check=False)
    return problems


def image_metrics(image):
    """bootbox_image_sent_bytes_total of one image, by protocol."""
    out = {}
    for line in (box_get("/metrics") or "").splitlines():
        m = re.match(r'bootbox_image_sent_bytes_total\{(.*)\} (\S+)', line)
        if m and f'image="{image}"' in m.group(1):
            proto = re.search(r'protocol="(\w+)"', m.group(1))
            if proto:
                out[proto.group(1)] = int(float(m.group(2)))
    return out


def case_full_dhcp(ctx):
    """Isolated imaging VLAN: no school DHCP server, Bootbox hands out the registered address."""
    procs = ctx["procs"]
    procs.stop(ctx["router"])
    procs.stop(ctx["box"])
    ctx["box"] = start_bootbox(procs, ctx["bootbox"], ctx["data"], ctx["work"],
                               dhcp=("--dhcp", "full", "--pool", "10.55.0.200-10.55.0.220", "--router", DHCP_IP))
    try:
        mac = MACS["full-dhcp"]
        out = boot_vm(procs, "bios", mac, ctx["taps"]["full-dhcp"], ctx["work"], r"BOOTBOX-E2E-CALLBACK-OK")
        problems = []
        if not re.search(rf"BOOTBOX-E2E-OK mac={mac}", out):
            problems.append("no marker on the serial console")
        if "BOOTBOX-E2E-CALLBACK-OK" not in out:
            problems.append("no callback to the box")
        if FULL_DHCP_IP not in out:
            problems.append(f"iPXE did not get the registered address {FULL_DHCP_IP}")
        details = [e["detail"] for e in timeline(mac)["events"] if e["step"] == "lease"]
        if not any(FULL_DHCP_IP in d for d in details):
            problems.append(f"no lease of {FULL_DHCP_IP} in the timeline ({details})")
        leases = os.path.join(ctx["data"], "dhcp-leases.json")
        if not (os.path.exists(leases) and FULL_DHCP_IP in open(leases).read()):
            problems.append("the lease was not saved to dhcp-leases.json")
        return problems
    finally:
        procs.stop(ctx["box"])
        ctx["router"] = start_router(procs, ctx["work"])
        ctx["box"] = start_bootbox(procs, ctx["bootbox"], ctx["data"], ctx["work"])


def case_box_off(ctx):
    ctx["procs"].stop(ctx["box"])
    out = boot_vm(ctx["procs"], "bios", MACS["box-off"], ctx["taps"]["box-off"], ctx["work"],
                  r"No more network devices|Nothing to boot|No bootable device", timeout=VM_TIMEOUT)
    problems = []
    if "BOOTBOX-E2E-OK" in out:
        problems.append("the PC booted although Bootbox was off")
    if not re.search(r"No more network devices|Nothing to boot|No bootable device", out):
        problems.append("the firmware did not report a failed network boot")
    return problems


CASES = {
    "bios": lambda c: case_boot(c, "bios"),
    "uefi": lambda c: case_boot(c, "uefi"),
    "uefi-native": lambda c: case_boot(c, "uefi-native"),
    "grub-bios": lambda c: case_grub(c, "grub-bios"),
    "grub-uefi": lambda c: case_grub(c, "grub-uefi"),
    "grub-reboot": case_grub_reboot,
    "local-boot": case_local_boot,
    "non-pxe": case_non_pxe,
    "linbo-files": case_linbo_files,
    "torrent": case_torrent,
    "full-dhcp": case_full_dhcp,
    "box-off": case_box_off,
}


def demo(ctx):
    """Boots the three classroom PCs at once and shows what the box saw."""
    kinds = ["bios", "uefi", "uefi-native"]
    results = {}

    def one(kind):
        results[kind] = case_boot(ctx, kind)

    threads = [threading.Thread(target=one, args=(k,)) for k in kinds]
    for t in threads:
        t.start()
        time.sleep(2)
    for t in threads:
        t.join()
    for kind in kinds:
        mac = MACS[kind]
        tl = timeline(mac)
        print(f"\n=== pc-{kind} ({mac}): {'booted' if not results[kind] else 'FAILED: ' + '; '.join(results[kind])}")
        t0 = tl["events"][0]["time_ms"] if tl["events"] else 0
        for e in tl["events"]:
            print(f"  +{(e['time_ms'] - t0) / 1000:6.1f}s  {e['source']:<6} {e['step']:<10} {e['detail']}")
        for h in tl["hints"]:
            print(f"  hint: {h}")
    print(f"\nThe same timelines: GET {HTTP}/api/v1/hosts/<mac>/timeline (inside the box's namespace)")
    return [(k, results[k]) for k in kinds]


def main():
    args = [a for a in sys.argv[1:] if a != "--demo"]
    is_demo = "--demo" in sys.argv
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    bootbox = os.path.abspath(args[0])
    wanted = args[1:] or list(CASES)
    if "box-off" in wanted:  # it stops the box: run it last
        wanted = [c for c in wanted if c != "box-off"] + ["box-off"]
    work = tempfile.mkdtemp(prefix="bbe2e-")
    artifacts = os.environ.get("E2E_ARTIFACTS")
    procs = Procs()
    results = []
    taps = {k: f"tap{i}" for i, k in enumerate(MACS)}
    try:
        vmlinuz, modules = kernel_and_modules()
        data = os.path.join(work, "var")
        prepare_data(bootbox, data, vmlinuz, modules)
        net_up(taps.values())
        router = start_router(procs, work)
        box = start_bootbox(procs, bootbox, data, work)
        ctx = {"procs": procs, "work": work, "taps": taps, "box": box, "router": router,
               "bootbox": bootbox, "data": data}
        if is_demo:
            results = demo(ctx)
            wanted = []
        for name in wanted:
            t0 = time.time()
            try:
                problems = CASES[name](ctx)
            except Exception as e:  # a broken case is a failed case, the others still run
                problems = [f"{type(e).__name__}: {e}"]
            results.append((name, problems))
            verdict = "PASS" if not problems else "FAIL"
            print(f"{verdict} {name} ({time.time() - t0:.0f}s)" + "".join(f"\n    {p}" for p in problems), flush=True)
    finally:
        procs.stop_all()
        net_down()
        if artifacts:
            os.makedirs(artifacts, exist_ok=True)
            for f in glob.glob(os.path.join(work, "*.log")):
                shutil.copy(f, artifacts)
        shutil.rmtree(work, ignore_errors=True)
    passed = sum(1 for _, p in results if not p)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and results else 1


if __name__ == "__main__":
    sys.exit(main())
