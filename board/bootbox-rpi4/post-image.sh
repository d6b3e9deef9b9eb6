#!/bin/sh
# Buildroot post-image for the Raspberry Pi 4: SD card image.
set -eu
B=$(cd "$(dirname "$0")" && pwd)
cp "$B/config.txt" "$B/cmdline.txt" "$BINARIES_DIR/"
exec support/scripts/genimage.sh -c "$B/genimage.cfg"
