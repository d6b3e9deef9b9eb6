#!/bin/sh
# Buildroot post-build ($1 = TARGET_DIR): the same additions
# scripts/build-image makes to the overlay.
#   BOOTBOX_VERSION         firmware version (default: dev)
#   BOOTBOX_FIRMWARE_PUBKEY public key file bundles must be signed with (required)
#   BOOTBOX_IPXE_DIR        undionly.kpxe, ipxe.efi, snponly.efi for the PCs
#                           (Buildroot has no iPXE package; Debian's ipxe works)
set -eu
T=$1
: "${BOOTBOX_FIRMWARE_PUBKEY:?set BOOTBOX_FIRMWARE_PUBKEY to the firmware signing public key}"
echo "${BOOTBOX_VERSION:-dev}" > "$T/etc/bootbox-release"
install -D -m 0644 "$BOOTBOX_FIRMWARE_PUBKEY" "$T/etc/bootbox/firmware.pub"
mkdir -p "$T/usr/lib/ipxe" "$T/data" "$T/boot"
if [ -n "${BOOTBOX_IPXE_DIR:-}" ]; then
    cp "$BOOTBOX_IPXE_DIR"/undionly.kpxe "$BOOTBOX_IPXE_DIR"/ipxe.efi "$BOOTBOX_IPXE_DIR"/snponly.efi "$T/usr/lib/ipxe/"
fi
ln -sfn /run/resolv.conf "$T/etc/resolv.conf"
rm -f "$T/README.md"
# Buildroot's skeleton has /init for initramfs; busybox init reads our inittab.
