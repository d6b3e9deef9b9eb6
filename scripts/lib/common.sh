# Shared helpers for scripts/run, scripts/test and the benches.
# Source it; it sets strict mode, finds the repo root and defines
# idempotent installers. Everything comes from Debian's archive or
# crates.io; nothing is downloaded from anywhere else.

set -euo pipefail

BOOTBOX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export BOOTBOX_ROOT

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Build cache outside the clone (kept between runs on one machine; the
# scripts pass without it, only slower).
use_build_cache() {
    if [ -z "${CARGO_TARGET_DIR:-}" ]; then
        if mkdir -p /var/cache/bootbox/target 2>/dev/null; then
            export CARGO_TARGET_DIR=/var/cache/bootbox/target
        else
            export CARGO_TARGET_DIR="$BOOTBOX_ROOT/target"
        fi
    fi
    # Whole-workspace builds from scripts gain nothing from incremental
    # compilation, which triples the cache on disk.
    export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
}

# ensure_apt PKG...: installs the Debian packages that are missing.
ensure_apt() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "need root to install: ${missing[*]}"
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The Rust toolchain of the machine (rustup, stable). Debian's own rustc is
# too old for the workspace's rust-version.
ensure_rust() {
    if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (rustup, stable >= 1.90)"
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt >/dev/null 2>&1 || true
}

# ensure_cargo_tool BIN CRATE: installs a cargo subcommand from crates.io.
ensure_cargo_tool() {
    local bin="$1" crate="$2"
    command -v "$bin" >/dev/null && return 0
    say "installing $crate from crates.io"
    cargo install --locked --quiet "$crate"
}

# Packages the product and its tests need on a Debian 12 machine.
BASE_PACKAGES=(build-essential pkg-config curl ca-certificates python3 iproute2 procps)
