"""Small helpers shared by the benchmark drivers in scripts/bench/.

- write_section(report, name, text): replaces the part of REPORT
  (docs/benchmarks.md) between <!-- NAME:begin --> and <!-- NAME:end -->,
  or appends it; creates the file if missing. Other sections are kept.
- machine(): one line about the machine (cores, CPU model, kernel, load).
- proc_cpu_seconds(pid), proc_hwm_kb(pid), children(pid): /proc readers
  for server CPU time and peak RSS.
"""

import os
import platform
import re

HEADER = "# Benchmarks\n\nEach section is written by the script named in it; re-run the script to refresh it.\n\n"


def write_section(report, name, text):
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    body = text.strip("\n")
    if not body.startswith(begin):
        body = f"{begin}\n{body}\n{end}"
    body += "\n"
    current = open(report).read() if os.path.exists(report) else HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(current):
        current = pattern.sub(lambda _: body, current, count=1)
    else:
        current = current.rstrip("\n") + "\n\n" + body
    tmp = f"{report}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(current)
    os.replace(tmp, report)


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    # The 1-minute load average when the section is written: a busy machine
    # (builds, other benches) shows up here and explains noisy numbers.
    load = os.getloadavg()[0]
    return f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, load average {load:.2f}"


_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    # The command name may contain spaces and parentheses: split after the last ')'.
    return s[s.rindex(")") + 2:].split()


def proc_cpu_seconds(pid):
    """utime + stime of `pid` (all its threads), in seconds."""
    f = _stat_fields(pid)
    # Fields 14 and 15 of stat(5); f[0] is field 3.
    return (int(f[11]) + int(f[12])) / _TICK


def proc_hwm_kb(pid):
    """Peak resident set size (VmHWM) of `pid`, in kB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def children(pid):
    """PIDs whose parent is `pid` (e.g. nginx workers of a master)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if int(_stat_fields(d)[1]) == pid:
                out.append(int(d))
        except (OSError, ValueError):
            continue
    return out
