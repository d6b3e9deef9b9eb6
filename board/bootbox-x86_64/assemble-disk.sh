#!/usr/bin/env bash
# Assembles the appliance disk from one firmware (kernel + initramfs) and
# the GRUB images. Used by scripts/build-image (Debian packages) and by
# Buildroot's post-image.sh, so both produce the same layout:
#
#   LBA 0       GRUB boot.img (patched: core at LBA 2048) + protective MBR
#   1 MiB       BIOS boot partition: GRUB i386-pc core image
#   2 MiB       boot partition, FAT32 "BOOTBOX": EFI/BOOT/BOOTX64.EFI,
#               grub/grub.cfg, grub/grubenv, A/{vmlinuz,initramfs}, B/
#   after it    data partition, ext4 "bootbox-data" (/data), empty
#
#   assemble-disk.sh WORK OUT KERNEL INITRAMFS VERSION BOOT_IMG CORE_IMG EFI_IMG
#
# Env: ESP_MIB (128), DATA_MIB (64), SOURCE_DATE_EPOCH (fixed file times;
# with it the disk is byte-for-byte reproducible). Rootless: mtools and
# mke2fs write the file systems, genimage the partition table.
set -euo pipefail
[ $# -eq 8 ] || { sed -n '2,17p' "$0" >&2; exit 2; }
WORK=$1 OUT=$2 KERNEL=$3 INITRAMFS=$4 VERSION=$5 BOOT_IMG=$6 CORE_IMG=$7 EFI_IMG=$8
B=$(cd "$(dirname "$0")" && pwd)
ESP_MIB=${ESP_MIB:-128}
DATA_MIB=${DATA_MIB:-64}
: "${SOURCE_DATE_EPOCH:=1700000000}"
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH MTOOLS_SKIP_CHECK=1 SOURCE_DATE_EPOCH
die() { echo "assemble-disk: $*" >&2; exit 1; }
mkdir -p "$WORK" "$OUT"

# boot.img loads the core image from LBA 1 and the core image's first
# sector loads the rest from LBA 2 (what grub-bios-setup would patch on a
# real device). Point both at the BIOS boot partition (LBA 2048), checking
# GRUB's defaults first so a changed GRUB fails loudly instead of silently.
cp "$BOOT_IMG" "$WORK/boot.img"
cp "$CORE_IMG" "$WORK/core.img"
[ "$(stat -c %s "$WORK/core.img")" -le 1048576 ] || die "GRUB core image larger than the BIOS boot partition"
u64_at() { od -An -tu8 -j "$2" -N8 "$1" | tr -d ' '; }
le64_at() { # FILE OFFSET VALUE
    python3 -c 'import struct,sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2])); f.write(struct.pack("<Q", int(sys.argv[3])))' "$@"
}
[ "$(u64_at "$WORK/boot.img" $((0x5c)))" = 1 ] || die "unexpected GRUB boot.img (kernel_sector is not 1)"
[ "$(u64_at "$WORK/core.img" $((0x1f4)))" = 2 ] || die "unexpected GRUB core.img (blocklist does not start at 2)"
le64_at "$WORK/boot.img" $((0x5c)) 2048
le64_at "$WORK/core.img" $((0x1f4)) 2049

# Boot partition.
E=$WORK/esp
rm -rf "$E"
mkdir -p "$E/EFI/BOOT" "$E/grub" "$E/A" "$E/B"
cp "$EFI_IMG" "$E/EFI/BOOT/BOOTX64.EFI"
cp "$B/grub.cfg" "$E/grub/grub.cfg"
cp "$KERNEL" "$E/A/vmlinuz"
cp "$INITRAMFS" "$E/A/initramfs"
grub-editenv "$E/grub/grubenv" create
grub-editenv "$E/grub/grubenv" set "bb_order=A B" bb_A_ok=1 bb_A_left=3 "bb_A_ver=$VERSION" bb_B_ok=0 bb_B_left=0
find "$E" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
rm -f "$WORK/esp.vfat"
mkfs.fat -F 32 -S 512 -s 1 -n BOOTBOX --invariant -C "$WORK/esp.vfat" $((ESP_MIB * 1024)) >/dev/null
(cd "$E" && find . -mindepth 1 -type d | LC_ALL=C sort | sed 's|^\./||') | while read -r d; do mmd -i "$WORK/esp.vfat" "::$d"; done
(cd "$E" && find . -type f | LC_ALL=C sort | sed 's|^\./||') | while read -r f; do mcopy -m -i "$WORK/esp.vfat" "$E/$f" "::$f"; done

# Data partition: empty; the box creates /data/bootbox and /data/etc at
# boot. (mke2fs -d would copy the staging files' ctime, which no tool can
# pin, and break reproducibility.)
rm -f "$WORK/data.ext4"
mke2fs -q -t ext4 -L bootbox-data -U 6b6f6f62-7862-6f78-2d64-617461000001 \
    -E "hash_seed=6b6f6f62-7862-6f78-2d68-617368000001,root_owner=0:0" \
    "$WORK/data.ext4" "${DATA_MIB}M" >/dev/null

rm -rf "$WORK/genimage-tmp" "$WORK/disk"
mkdir -p "$WORK/empty-root"
genimage --config "$B/genimage.cfg" --rootpath "$WORK/empty-root" --tmppath "$WORK/genimage-tmp" \
    --inputpath "$WORK" --outputpath "$WORK/disk" > "$WORK/genimage.log" 2>&1 \
    || { cat "$WORK/genimage.log" >&2; die "genimage failed"; }
mv "$WORK/disk/bootbox.img" "$OUT/bootbox.img"
cat > "$OUT/layout.env" <<EOF
VERSION=$VERSION
BOOT_OFFSET=$((2 * 1048576))
BOOT_SIZE=$((ESP_MIB * 1048576))
DATA_OFFSET=$(( (2 + ESP_MIB) * 1048576 ))
DATA_SIZE=$((DATA_MIB * 1048576))
EOF
