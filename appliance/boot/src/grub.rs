//! GRUB configurations for LINBO's network boot chain, rendered from the
//! registry: the network main config `boot/grub/grub.cfg`, one menu per
//! group `boot/grub/<group>.cfg`, and the local-cache config a client
//! fetches as `boot/grub/spool/<host>.<group>.grub.cfg`.
//!
//! The behaviour follows LINBO's (linbo-facts §1.3–1.5): the network GRUB
//! first honours a pending "reboot into OS" request in the client's cache
//! grubenv, then loads the host's or the group's menu, and falls back to
//! booting LINBO from the network. LINBO's kernel and initramfs come over
//! HTTP when the box serves HTTP (faster than TFTP), else over TFTP.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use bootbox_linbo::startconf::{OsView, StartConf};

/// First line of every file this module writes; files without it are the
/// admin's and are left alone.
pub const MARKER: &str = "# managed by bootbox: edits are overwritten";

/// Where GRUB fetches LINBO's kernel and initramfs from, and which LINBO
/// server the kernel line names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinboSource {
    /// HTTP port of the box's boot endpoints (`None`: TFTP only).
    pub http_port: Option<u16>,
    /// The box's address on the LAN, put on LINBO's kernel line as
    /// `bootboxserver=` (see [`server_param`]). `None`: network entries
    /// use the server GRUB itself was loaded from.
    pub server_ip: Option<Ipv4Addr>,
}

/// Kernel parameter naming the LINBO server for the proxy-DHCP patch that
/// `bootbox linbofs build` applies to LINBO's init.sh (LINBO >= 4.2.8
/// would otherwise take the DHCP server identifier, which in ProxyDHCP
/// mode is the school's DHCP server).
pub const SERVER_PARAM: &str = "bootboxserver";

/// ` bootboxserver=<ip>` for a LINBO kernel line booted from the local
/// cache (empty when the box's address is unknown).
pub fn server_param(server: Option<Ipv4Addr>) -> String {
    server
        .map(|ip| format!(" {SERVER_PARAM}={ip}"))
        .unwrap_or_default()
}

impl LinboSource {
    /// ` bootboxserver=…` for a LINBO kernel line fetched over the network.
    fn net_server_param(&self) -> String {
        match self.server_ip {
            Some(ip) => format!(" {SERVER_PARAM}={ip}"),
            None => format!(" {SERVER_PARAM}=${{net_default_server}}"),
        }
    }

    /// GRUB device prefix for files of the LINBO tree.
    ///
    /// HTTP only on port 80: GRUB 2.06 (Debian 12's, which builds the
    /// cores) always connects its `http` device to port 80 and has no
    /// syntax for another port, so a box serving HTTP elsewhere hands
    /// GRUB the files over TFTP.
    fn device(&self) -> String {
        match self.http_port {
            Some(80) => "(http,${net_default_server})/linbo".to_string(),
            _ => "(tftp)".to_string(),
        }
    }
}

/// GRUB's name of a Linux partition device: `/dev/sda3` → `(hd0,3)`,
/// `/dev/nvme0n1p2` → `(hd0,2)`, `/dev/mmcblk0p1` → `(hd0,1)`.
pub fn grub_partition(dev: &str) -> Option<String> {
    let name = dev.strip_prefix("/dev/").unwrap_or(dev);
    let digits_at = |s: &str| s.find(|c: char| c.is_ascii_digit());
    if let Some(rest) = name
        .strip_prefix("sd")
        .or_else(|| name.strip_prefix("vd"))
        .or_else(|| name.strip_prefix("hd"))
        .or_else(|| name.strip_prefix("xvd"))
    {
        let at = digits_at(rest)?;
        let (letters, part) = rest.split_at(at);
        let mut disk = 0usize;
        for c in letters.chars() {
            if !c.is_ascii_lowercase() {
                return None;
            }
            disk = disk * 26 + usize::from(c as u8 - b'a') + 1;
        }
        let part: u32 = part.parse().ok()?;
        return (disk > 0 && part > 0).then(|| format!("(hd{},{part})", disk - 1));
    }
    if let Some(rest) = name.strip_prefix("nvme") {
        let (ctrl_ns, part) = rest.split_once('p')?;
        let (_, ns) = ctrl_ns.split_once('n')?;
        let ns: usize = ns.parse().ok()?;
        let part: u32 = part.parse().ok()?;
        return (ns > 0 && part > 0).then(|| format!("(hd{},{part})", ns - 1));
    }
    if let Some(rest) = name.strip_prefix("mmcblk") {
        let (disk, part) = rest.split_once('p')?;
        let disk: usize = disk.parse().ok()?;
        let part: u32 = part.parse().ok()?;
        return (part > 0).then(|| format!("(hd{disk},{part})"));
    }
    None
}

/// Quotes a value for a GRUB script (single quotes; a `'` becomes `'\''`).
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The cascade that boots an installed OS on the current `$root`: its own
/// kernel if named, the usual Linux kernel paths, its own GRUB, Windows.
fn boot_os_cascade(out: &mut String, indent: &str, kernel: &str, initrd: &str, append: &str) {
    let mut line = |s: &str| {
        let _ = writeln!(out, "{indent}{s}");
    };
    let append = quote(append);
    let mut first = true;
    let mut branch = |cond: String| {
        let kw = if first { "if" } else { "elif" };
        first = false;
        format!("{kw} {cond}; then")
    };
    if !kernel.is_empty() && kernel != "auto" {
        let k = quote(&format!("/{}", kernel.trim_start_matches('/')));
        line(&branch(format!("[ -f {k} ]")));
        line(&format!("  linux {k} $append_root {append}"));
        if !initrd.is_empty() {
            let i = quote(&format!("/{}", initrd.trim_start_matches('/')));
            line(&format!("  initrd {i}"));
        }
    }
    for (k, i) in [
        ("/boot/vmlinuz", "/boot/initrd.img"),
        ("/boot/vmlinuz", "/boot/initrd"),
        ("/vmlinuz", "/initrd.img"),
        ("/vmlinuz", "/initrd"),
    ] {
        line(&branch(format!("[ -f {k} -a -f {i} ]")));
        line(&format!("  linux {k} $append_root {append}"));
        line(&format!("  initrd {i}"));
    }
    line(&branch("[ -f /boot/grub/grub.cfg ]".to_string()));
    line("  configfile /boot/grub/grub.cfg");
    line(&branch(
        "[ \"$grub_platform\" = \"efi\" -a -f /EFI/Microsoft/Boot/bootmgfw.efi ]".to_string(),
    ));
    line("  chainloader /EFI/Microsoft/Boot/bootmgfw.efi");
    line(&branch("[ -f /bootmgr ]".to_string()));
    line("  ntldr /bootmgr");
    line("else");
    line("  chainloader +1");
    line("fi");
    line("boot");
}

/// `boot/grub/grub.cfg`: the network GRUB's main config.
pub fn network_main_cfg(src: &LinboSource) -> String {
    let dev = src.device();
    let mut s = String::new();
    let _ = writeln!(s, "{MARKER}");
    s.push_str(
        "set timeout=0
set default=0
insmod all_video
insmod gzio
insmod part_gpt
insmod part_msdos
insmod ext2
insmod fat
insmod ntfs
insmod loadenv
insmod regexp
insmod http

# A LINBO cache on the local disk may carry a pending \"reboot into OS\" request.
if search --no-floppy --file --set=cache /start.conf; then
  if [ -s ($cache)/boot/grub/grubenv ]; then
    load_env --file ($cache)/boot/grub/grubenv
  fi
fi
if [ -n \"$reboot_label\" ]; then
  search --no-floppy --label --set=osroot \"$reboot_label\"
elif [ -n \"$reboot_grub\" ]; then
  set osroot=\"$reboot_grub\"
fi
if [ -n \"$osroot\" ]; then
  # Honoured once: clear the request before booting.
  set req_kernel=\"$reboot_kernel\"
  set req_initrd=\"$reboot_initrd\"
  set req_append=\"$reboot_append\"
  set reboot_label=
  set reboot_grub=
  set reboot_kernel=
  set reboot_initrd=
  set reboot_append=
  save_env --file ($cache)/boot/grub/grubenv reboot_label reboot_grub reboot_kernel reboot_initrd reboot_append
  set root=\"$osroot\"
  set append_root=
  if [ -n \"$req_kernel\" -a -f \"$req_kernel\" ]; then
    linux \"$req_kernel\" $req_append
    if [ -n \"$req_initrd\" ]; then initrd \"$req_initrd\"; fi
    boot
  fi
",
    );
    boot_os_cascade(&mut s, "  ", "", "", "");
    s.push_str(
        "fi

# Group (DHCP option 18/40) and host name (option 12) as the firmware's DHCP saw them.
if [ \"$grub_platform\" = \"pc\" ]; then
  set group=\"$net_pxe_extensionspath\"
  set host=\"$net_pxe_hostname\"
else
  for n in 0 1 2 3; do
    eval \"set try_group=\\$net_efinet${n}_extensionspath\"
    eval \"set try_host=\\$net_efinet${n}_hostname\"
    if [ -z \"$group\" -a -n \"$try_group\" ]; then set group=\"$try_group\"; fi
    if [ -z \"$host\" -a -n \"$try_host\" ]; then set host=\"$try_host\"; fi
  done
fi
# No `-f` tests on the network: GRUB cannot list a TFTP or HTTP directory,
# so they are always false. A missing file makes configfile fail and return.
if [ -n \"$host\" ]; then
  configfile \"$prefix/hostcfg/$host.cfg\"
fi
# ProxyDHCP: the school's DHCP names neither host nor group; the box renders
# hostcfg/<mac>.cfg for every registered PC (lower case, colons).
set mac=\"$net_default_mac\"
if [ -z \"$mac\" ]; then set mac=\"$net_pxe_mac\"; fi
if [ -z \"$mac\" ]; then set mac=\"$net_efinet0_mac\"; fi
if [ -n \"$mac\" ]; then
  configfile \"$prefix/hostcfg/$mac.cfg\"
fi
if [ -n \"$group\" ]; then
  configfile \"$prefix/$group.cfg\"
fi
if [ -n \"$cache\" -a -f ($cache)/boot/grub/custom.cfg ]; then
  configfile ($cache)/boot/grub/custom.cfg
fi

# Last resort: LINBO from the network.
",
    );
    let _ = writeln!(s, "menuentry 'LINBO (network, failsafe)' {{");
    let _ = writeln!(
        s,
        "  linux {dev}/linbo64 quiet netboot nomodeset{}",
        src.net_server_param()
    );
    let _ = writeln!(s, "  initrd {dev}/linbofs64");
    let _ = writeln!(s, "}}");
    s
}

/// Kernel options of a group: start.conf `KernelOptions` without the
/// words the box sets itself.
fn kernel_options(conf: &StartConf) -> String {
    conf.kernel_options()
        .unwrap_or("quiet splash")
        .split_whitespace()
        .filter(|w| {
            !matches!(*w, "netboot" | "localboot")
                && !w.starts_with("linbocmd=")
                && !w.starts_with("bootboxserver=")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// GRUB's OS type name for icons, from the OS name (LINBO's list).
fn os_type(name: &str) -> &'static str {
    let n = name.to_ascii_lowercase();
    for (needle, t) in [
        ("windows 10", "win10"),
        ("windows", "win"),
        ("mint", "linuxmint"),
        ("kubuntu", "kubuntu"),
        ("xubuntu", "xubuntu"),
        ("lubuntu", "lubuntu"),
        ("ubuntu", "ubuntu"),
        ("debian", "debian"),
        ("suse", "opensuse"),
        ("fedora", "fedora"),
    ] {
        if n.contains(needle) {
            return t;
        }
    }
    "unknown"
}

/// `boot/grub/<group>.cfg`: the group's menu. Without a cache partition
/// LINBO always boots from the network.
pub fn group_cfg(group: &str, conf: &StartConf, src: &LinboSource) -> String {
    let dev = src.device();
    let opts = kernel_options(conf);
    let net = src.net_server_param();
    let local = server_param(src.server_ip);
    let mut s = String::new();
    let _ = writeln!(s, "{MARKER}");
    let _ = writeln!(s, "# group {group}");
    s.push_str("set default=0\nset timeout=0\nset fallback=1\nset gfxpayload=keep\n");
    let Some(cache) = conf.cache().filter(|c| !c.is_empty()) else {
        let _ = writeln!(s, "menuentry 'LINBO' {{");
        let _ = writeln!(s, "  linux {dev}/linbo64 {opts} netboot{net}");
        let _ = writeln!(s, "  initrd {dev}/linbofs64");
        let _ = writeln!(s, "}}");
        return s;
    };
    let cache_label = conf
        .partitions()
        .into_iter()
        .find(|p| p.dev == cache)
        .map(|p| p.label)
        .filter(|l| !l.is_empty());
    s.push_str("# Find the LINBO cache: by label, by its files, by its device.\n");
    match &cache_label {
        Some(l) => {
            let _ = writeln!(
                s,
                "if ! search --no-floppy --label --set=cacheroot {}; then",
                quote(l)
            );
        }
        None => s.push_str("if true; then\n"),
    }
    s.push_str(
        "  if ! search --no-floppy --file --set=cacheroot /start.conf; then\n    search --no-floppy --file --set=cacheroot /linbofs64\n  fi\nfi\n",
    );
    if let Some(g) = grub_partition(cache) {
        let _ = writeln!(s, "if [ -z \"$cacheroot\" ]; then set cacheroot={g}; fi");
    }
    let linbo_entry = |s: &mut String, title: &str, cmd: &str| {
        let extra = if cmd.is_empty() {
            String::new()
        } else {
            format!(" linbocmd={cmd}")
        };
        let _ = writeln!(s, "menuentry {} {{", quote(title));
        let _ = writeln!(
            s,
            "  if [ -f ($cacheroot)/linbo64 -a -f ($cacheroot)/linbofs64 ]; then"
        );
        let _ = writeln!(s, "    set root=$cacheroot");
        let _ = writeln!(s, "    linux /linbo64 {opts} localboot{extra}{local}");
        let _ = writeln!(s, "    initrd /linbofs64");
        let _ = writeln!(s, "  else");
        let _ = writeln!(s, "    linux {dev}/linbo64 {opts} netboot{extra}{net}");
        let _ = writeln!(s, "    initrd {dev}/linbofs64");
        let _ = writeln!(s, "  fi");
        let _ = writeln!(s, "}}");
    };
    linbo_entry(&mut s, "LINBO", "");
    for os in conf.oses() {
        os_entries(&mut s, conf, &os, &linbo_entry);
    }
    s
}

fn os_entries(
    s: &mut String,
    conf: &StartConf,
    os: &OsView,
    linbo_entry: &dyn Fn(&mut String, &str, &str),
) {
    let n = os.index;
    let name = if os.name.is_empty() {
        format!("OS {n}")
    } else {
        os.name.clone()
    };
    let label = conf
        .partitions()
        .into_iter()
        .find(|p| p.dev == os.root)
        .map(|p| p.label)
        .filter(|l| !l.is_empty());
    let _ = writeln!(
        s,
        "menuentry {} --class {} {{",
        quote(&format!("{name} (Start)")),
        os_type(&name)
    );
    match &label {
        Some(l) => {
            let _ = writeln!(s, "  search --no-floppy --label --set=root {}", quote(l));
        }
        None => {
            if let Some(g) = grub_partition(&os.root) {
                let _ = writeln!(s, "  set root={g}");
            }
        }
    }
    let append_root = if os.append.contains("root=") {
        String::new()
    } else {
        label
            .as_ref()
            .map(|l| format!("root=LABEL={l}"))
            .unwrap_or_default()
    };
    let _ = writeln!(s, "  set append_root={}", quote(&append_root));
    boot_os_cascade(s, "  ", &os.kernel, &os.initrd, &os.append);
    let _ = writeln!(s, "}}");
    linbo_entry(s, &format!("{name} (Linbo-Start)"), &format!("start:{n}"));
    linbo_entry(
        s,
        &format!("{name} (Sync+Start)"),
        &format!("sync:{n},start:{n}"),
    );
    let part = conf
        .partitions()
        .iter()
        .find(|p| p.dev == os.root)
        .map_or(n, |p| p.index);
    linbo_entry(
        s,
        &format!("{name} (Neu+Start)"),
        &format!("format:{part},sync:{n},start:{n}"),
    );
}

/// `boot/grub/spool/<host>.<group>.grub.cfg`: the grub.cfg of the client's
/// local cache. It boots LINBO from the cache with the group's kernel
/// options (`localboot`, and `bootboxserver=` when `server` is known), or
/// the group menu saved next to it.
pub fn local_cache_cfg(group: &str, conf: &StartConf, server: Option<Ipv4Addr>) -> String {
    let opts = kernel_options(conf);
    let local = server_param(server);
    let mut s = String::new();
    let _ = writeln!(s, "{MARKER}");
    let _ = writeln!(s, "# local LINBO cache, group {group}");
    s.push_str(
        "set timeout=0
set default=0
insmod all_video
insmod loadenv
if [ -s $prefix/grubenv ]; then
  load_env
fi
if [ -n \"$reboot_label\" -o -n \"$reboot_grub\" ]; then
  if [ -f $prefix/osboot.cfg ]; then configfile $prefix/osboot.cfg; fi
fi
if [ -f $prefix/custom.cfg ]; then
  configfile $prefix/custom.cfg
fi
",
    );
    let _ = writeln!(s, "menuentry 'LINBO' {{");
    s.push_str("  if [ -f /linbo64 -a -f /linbofs64 ]; then\n");
    let _ = writeln!(s, "    linux /linbo64 {opts} localboot{local}");
    s.push_str("    initrd /linbofs64\n");
    s.push_str("  elif [ \"$grub_platform\" = \"efi\" -a -f /ipxe.efi ]; then\n    chainloader /ipxe.efi\n  else\n    linux16 /ipxe.lkrn dhcp\n  fi\n}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "[LINBO]\nCache = /dev/sda4\nKernelOptions = quiet splash netboot\n\n\
        [Partition]\nDev = /dev/sda1\nLabel = windows\n\n\
        [Partition]\nDev = /dev/sda4\nLabel = cache\n\n\
        [OS]\nName = Windows 11\nBaseImage = win11.qcow2\nRoot = /dev/sda1\nKernel = auto\n";

    #[test]
    fn partitions_in_grub_names() {
        assert_eq!(grub_partition("/dev/sda1").as_deref(), Some("(hd0,1)"));
        assert_eq!(grub_partition("/dev/sdb3").as_deref(), Some("(hd1,3)"));
        assert_eq!(grub_partition("/dev/vda2").as_deref(), Some("(hd0,2)"));
        assert_eq!(grub_partition("/dev/nvme0n1p2").as_deref(), Some("(hd0,2)"));
        assert_eq!(grub_partition("/dev/nvme0n2p1").as_deref(), Some("(hd1,1)"));
        assert_eq!(grub_partition("/dev/mmcblk0p1").as_deref(), Some("(hd0,1)"));
        assert_eq!(grub_partition("/dev/sda"), None);
        assert_eq!(grub_partition("/dev/loop0"), None);
    }

    #[test]
    fn group_menu_has_linbo_and_four_entries_per_os() {
        let conf = StartConf::parse(CONF).expect("valid").conf;
        let cfg = group_cfg(
            "g1",
            &conf,
            &LinboSource {
                http_port: Some(8080),
                server_ip: Some(Ipv4Addr::new(10, 0, 0, 5)),
            },
        );
        assert!(cfg.starts_with(MARKER));
        assert!(cfg.contains("search --no-floppy --label --set=cacheroot 'cache'"));
        assert!(cfg.contains("linux /linbo64 quiet splash localboot bootboxserver=10.0.0.5\n"));
        // GRUB 2.06 speaks HTTP to port 80 only: elsewhere LINBO comes over TFTP.
        assert!(cfg.contains("(tftp)/linbo64 quiet splash netboot bootboxserver=10.0.0.5\n"));
        let on_80 = group_cfg(
            "g1",
            &conf,
            &LinboSource {
                http_port: Some(80),
                server_ip: Some(Ipv4Addr::new(10, 0, 0, 5)),
            },
        );
        assert!(on_80.contains(
            "(http,${net_default_server})/linbo/linbo64 quiet splash netboot bootboxserver=10.0.0.5\n"
        ));
        assert!(cfg.contains("netboot linbocmd=start:1 bootboxserver=10.0.0.5\n"));
        for title in ["Start", "Linbo-Start", "Sync+Start", "Neu+Start"] {
            assert!(cfg.contains(&format!("'Windows 11 ({title})'")), "{title}");
        }
        assert!(cfg.contains("linbocmd=format:1,sync:1,start:1"));
        assert!(cfg.contains("--class win"));
    }

    #[test]
    fn no_cache_means_network_only() {
        let conf = StartConf::parse("[LINBO]\nKernelOptions = quiet\n")
            .expect("valid")
            .conf;
        let src = LinboSource {
            http_port: None,
            server_ip: None,
        };
        let cfg = group_cfg("g", &conf, &src);
        // Without a known address: the server GRUB was loaded from.
        assert!(cfg
            .contains("linux (tftp)/linbo64 quiet netboot bootboxserver=${net_default_server}\n"));
        assert!(network_main_cfg(&src).contains("nomodeset bootboxserver=${net_default_server}\n"));
        assert!(!cfg.contains("localboot"));
    }

    #[test]
    fn values_cannot_break_out_of_quotes() {
        assert_eq!(quote("a'b"), r"'a'\''b'");
    }

    #[test]
    fn local_cache_boots_linbo_localboot() {
        let conf = StartConf::parse(CONF).expect("valid").conf;
        let cfg = local_cache_cfg("g1", &conf, None);
        assert!(cfg.contains("linux /linbo64 quiet splash localboot\n"));
        let cfg = local_cache_cfg("g1", &conf, Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert!(cfg.contains("linux /linbo64 quiet splash localboot bootboxserver=10.0.0.5\n"));
        // An admin's own bootboxserver= in KernelOptions never doubles it.
        let own = StartConf::parse("[LINBO]\nKernelOptions = quiet bootboxserver=1.2.3.4\n")
            .expect("valid")
            .conf;
        let cfg = local_cache_cfg("g1", &own, Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert!(
            cfg.contains("linux /linbo64 quiet localboot bootboxserver=10.0.0.5\n"),
            "{cfg}"
        );
    }
}
