#!/usr/bin/env python3
"""Writes a newc cpio archive of character devices to stdout, without
creating them on disk (which needs root): the build's rootless way to put
/dev/console and /dev/null into the initramfs.

    cpio-nodes.py MTIME NAME:MODE:MAJOR:MINOR ...     (MODE in octal)

Owner root, one link each, fixed inode numbers and MTIME: the same
arguments give the same bytes.
"""
import sys

S_IFCHR = 0o020000


def entry(ino, mode, rmajor, rminor, mtime, name):
    name_b = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, 1, mtime, 0, 0, 0, rmajor, rminor, len(name_b), 0]
    head = b"070701" + b"".join(b"%08X" % f for f in fields) + name_b
    return head + b"\0" * (-len(head) % 4)


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    mtime = int(argv[1])
    out = bytearray()
    for i, spec in enumerate(argv[2:]):
        try:
            name, mode, major, minor = spec.split(":")
            out += entry(0x7F000000 + i, S_IFCHR | int(mode, 8), int(major), int(minor), mtime, name)
        except ValueError:
            sys.stderr.write(f"cpio-nodes.py: '{spec}' is not NAME:MODE:MAJOR:MINOR\n")
            return 2
    out += entry(0, 0, 0, 0, 0, "TRAILER!!!")
    out += b"\0" * (-len(out) % 512)
    sys.stdout.buffer.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
