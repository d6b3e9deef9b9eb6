# install_boot_files DATA_DIR: puts the first-stage iPXE binaries from
# Debian's `ipxe` package into <data>/linbo/boot/ipxe/ (where the ProxyDHCP
# answers point). Files the admin replaced (own iPXE build) are kept.
# Also Debian's GRUB (grub-mkimage and the BIOS/x64-EFI modules): `bootbox
# serve` builds LINBO's network GRUB cores from them for hosts on the GRUB
# chain (`bootbox hosts chain HOST grub`).
install_boot_files() {
    local data="$1" dir
    ensure_apt ipxe grub-common grub-pc-bin grub-efi-amd64-bin
    dir="$data/linbo/boot/ipxe"
    mkdir -p "$dir"
    for f in undionly.kpxe snponly.efi ipxe.efi; do
        [ -e "$dir/$f" ] || install -m 0644 "/usr/lib/ipxe/$f" "$dir/$f"
    done
}
