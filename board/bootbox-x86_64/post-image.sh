#!/bin/sh
# Buildroot post-image: the same disk as scripts/build-image, from
# Buildroot's kernel, rootfs.cpio.zst and GRUB images.
set -eu
B=$(cd "$(dirname "$0")" && pwd)
export PATH="$HOST_DIR/bin:$HOST_DIR/sbin:$PATH"
"$B/assemble-disk.sh" "$BUILD_DIR/bootbox-disk" "$BINARIES_DIR" \
    "$BINARIES_DIR/bzImage" "$BINARIES_DIR/rootfs.cpio.zst" "${BOOTBOX_VERSION:-dev}" \
    "$HOST_DIR/lib/grub/i386-pc/boot.img" "$BINARIES_DIR/grub.img" "$BINARIES_DIR/efi-part/EFI/BOOT/bootx64.efi"
