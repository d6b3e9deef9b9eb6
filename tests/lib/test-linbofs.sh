# A small LINBO-like linbofs64 for the suites (source this file): Debian's
# busybox-static as the whole userland, LINBO's do_env from the init.sh test
# fixture (appliance/linbofs/tests/fixtures/init.sh) and a LINBO version,
# so `bootbox linbofs build` accepts and patches it like LINBO's own.
#
#   test_linbofs_root DIR   fills DIR (the caller may add its own /init)
#   test_linbofs_pack DIR OUT   packs DIR as LINBO does: newc cpio, xz
test_linbofs_root() {
    local r="$1"
    mkdir -p "$r/bin" "$r/etc" "$r/proc" "$r/sys" "$r/dev" "$r/tmp"
    cp /bin/busybox "$r/bin/busybox"
    ln -sf busybox "$r/bin/sh"
    cp "$BOOTBOX_ROOT/appliance/linbofs/tests/fixtures/init.sh" "$r/init.sh"
    chmod 755 "$r/init.sh"
    echo "LINBO 4.3.37: Suite" >"$r/etc/linbo-version"
    printf '[LINBO]\nServer = 10.9.9.1\n' >"$r/start.conf"
}
test_linbofs_pack() {
    (cd "$1" && find . -print | cpio --quiet -o -H newc | xz --check=none -c) >"$2"
}
