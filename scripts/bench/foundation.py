#!/usr/bin/env python3
"""Foundation benchmarks; called by scripts/bench/foundation.

Generates the inputs, times bootbox and the Python peers in the same run
(median of RUNS), and rewrites the "Foundation" section of
docs/benchmarks.md.
"""

import configparser
import csv
import io
import ipaddress
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

work, bootbox, example, runs, report = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
HOSTS = 10_000
GROUPS = 1_000


def make_devices(path):
    with open(path, "w") as f:
        f.write("# room;host;group;mac;ip;office;windows;dhcp;role;;pxe;;;;comment\n")
        for i in range(HOSTS):
            room = f"r{100 + i // 30}"
            f.write(
                f"{room};pc{i:05d};win11-{i % 12};02:00:00:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x};"
                f"10.{16 + i // 250}.{(i // 250) % 250}.{1 + i % 250};---;---;;classroom-studentcomputer;;1;;;;Raum {room}\n"
            )


def make_startconfs(d):
    os.makedirs(d)
    for g in range(GROUPS):
        with open(os.path.join(d, f"start.conf.g{g}"), "w") as f:
            f.write(
                f"""# start.conf for group g{g}
[LINBO]
Server = 10.0.0.1
Group = g{g}
Cache = /dev/disk0p5
RootTimeout = 600
AutoPartition = no
AutoFormat = no
AutoInitCache = no
DownloadType = torrent
SystemType = efi64
KernelOptions = quiet splash
Locale = de-de

[Partition]
Dev = /dev/disk0p1
Label = efi
Size = 200M
Id = ef
FSType = vfat
Bootable = yes

[Partition]
Dev = /dev/disk0p2
Label = msr
Size = 128M
Id = 0c01
FSType =
Bootable = no

[Partition]
Dev = /dev/disk0p3
Label = windows
Size = 80G
Id = 7
FSType = ntfs
Bootable = no

[Partition]
Dev = /dev/disk0p4
Label = ubuntu
Size = 40G
Id = 83
FSType = ext4
Bootable = no

[Partition]
Dev = /dev/disk0p5
Label = cache
Size =
Id = 83
FSType = ext4
Bootable = no

[OS]
Name = Windows 11
Version = 23H2
Description = Windows 11 Education  # school image
IconName = win10.svg
BaseImage = win11-g{g}.qcow2
Root = /dev/disk0p3
Kernel = auto
Append =
StartEnabled = yes
SyncEnabled = yes
NewEnabled = yes
Autostart = no
AutostartTimeout = 5
DefaultAction = sync

[OS]
Name = Ubuntu
Version = 24.04
IconName = ubuntu.svg
BaseImage = ubuntu-g{g}.qcow2
Root = /dev/disk0p4
Kernel = boot/vmlinuz
Initrd = boot/initrd.img
Append = ro splash
StartEnabled = yes
SyncEnabled = yes
NewEnabled = yes
Autostart = no
AutostartTimeout = 5
DefaultAction = sync
"""
            )


HOST_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
ROOM_RE = re.compile(r"^[A-Za-z0-9-]+$")
GROUP_RE = re.compile(r"^[A-Za-z0-9_-]+$")
MAC_RE = re.compile(r"^([0-9A-Fa-f]{2})([:-])([0-9A-Fa-f]{2}\2){4}[0-9A-Fa-f]{2}$")


def python_devices(path):
    """linuxmuster's way: csv with QUOTE_NONE, field checks, uniqueness."""
    seen_h, seen_m, seen_i, rows, errors = set(), set(), set(), [], 0
    with open(path, newline="") as f:
        for row in csv.reader(f, delimiter=";", quoting=csv.QUOTE_NONE):
            if not row or not row[0][:1].isalnum():
                continue
            room, host, group, mac, ip = row[0], row[1].lower(), row[2], row[3].upper(), row[4]
            ok = ROOM_RE.match(room) and HOST_RE.match(host) and GROUP_RE.match(group) and MAC_RE.match(mac)
            if ip != "DHCP":
                a = ipaddress.IPv4Address(ip)
                ok = ok and 0 < a.packed[0] < 255 and a.packed[3] < 255 and ip not in seen_i
                seen_i.add(ip)
            ok = ok and host not in seen_h and mac not in seen_m
            seen_h.add(host)
            seen_m.add(mac)
            errors += 0 if ok else 1
            rows.append(row)
    assert errors == 0
    return len(rows)


def python_startconfs(d):
    """linuxmuster's server way: ConfigParser read, then write back."""
    texts = [open(os.path.join(d, n)).read() for n in os.listdir(d)]
    t0 = time.perf_counter()
    for text in texts:
        cp = configparser.ConfigParser(delimiters=("=",), inline_comment_prefixes=("#", ";"), strict=False)
        # Sections repeat in start.conf: number them like linuxmuster does.
        counter = {"partition": 0, "os": 0}

        def number(m):
            k = m.group(1).lower()
            if k in counter:
                counter[k] += 1
                return f"[{m.group(1)}{counter[k]}]"
            return m.group(0)

        cp.read_string(re.sub(r"^\[(\w+)\]", number, text, flags=re.M))
        out = io.StringIO()
        cp.write(out)
        configparser.ConfigParser(delimiters=("=",), strict=False).read_string(out.getvalue())
    return time.perf_counter() - t0


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median(xs):
    return statistics.median(xs)


devices = os.path.join(work, "devices.csv")
make_devices(devices)
confdir = os.path.join(work, "startconf")
make_startconfs(confdir)

imp = []
for r in range(runs):
    data = os.path.join(work, f"data{r}")
    imp.append(timed(lambda: subprocess.run([bootbox, "--data", data, "import", "devices", devices], check=True, stdout=subprocess.DEVNULL)))
    shutil.rmtree(data)
dry = []
data = os.path.join(work, "dry")
for r in range(runs):
    dry.append(timed(lambda: subprocess.run([bootbox, "--data", data, "import", "devices", devices, "--dry-run"], check=True, stdout=subprocess.DEVNULL)))
py_dev = [timed(lambda: python_devices(devices)) for _ in range(runs)]

rs_sc = []
for _ in range(runs):
    out = subprocess.run([example, confdir], check=True, capture_output=True, text=True).stdout
    rs_sc.append(json.loads(out)["seconds"])
py_sc = [python_startconfs(confdir) for _ in range(runs)]

imp_m, dry_m, pyd_m, rs_m, pys_m = map(median, (imp, dry, py_dev, rs_sc, py_sc))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchdoc import machine, write_section  # noqa: E402

section = f"""<!-- foundation:begin -->
## Foundation (issue 2): registry import and start.conf round-trip

Run by `scripts/bench/foundation` on {time.strftime('%Y-%m-%d')}, {machine()},
Python {platform.python_version()}; median of {runs} runs, release build. Peers run in the same
run on the same files. Times include process start for the bootbox CLI.

| task | bootbox | peer | peer time | ratio (peer / bootbox) |
|---|---|---|---|---|
| import {HOSTS:,} hosts from devices.csv into a fresh registry (parse, validate, one redb transaction, fsync) | {imp_m*1000:.0f} ms | Python `csv` + linuxmuster's field rules, parse and validate only, no database | {pyd_m*1000:.0f} ms | {pyd_m/imp_m:.2f}× |
| same file, `--dry-run` (parse, validate, diff against the registry) | {dry_m*1000:.0f} ms | (same peer) | {pyd_m*1000:.0f} ms | {pyd_m/dry_m:.2f}× |
| parse → render → parse of {GROUPS:,} group start.conf files (in memory, comments kept) | {rs_m*1000:.1f} ms | Python `configparser` read → write → read (linuxmuster server's reader; drops comments) | {pys_m*1000:.1f} ms | {pys_m/rs_m:.1f}× |

The real `linuxmuster-import-devices` needs sophomorix and Samba AD and cannot run here; the
peer reproduces its reading and checking step only, so the import ratio favours the peer.
<!-- foundation:end -->
"""

write_section(report, "foundation", section)
print(section)
