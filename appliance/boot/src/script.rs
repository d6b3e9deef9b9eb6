//! iPXE scripts served at `/boot.ipxe`.
//!
//! Everything interpolated into a script comes from validated registry
//! data (hostnames, groups) or is checked here (kernel command lines), so a
//! value can never inject iPXE commands: `$` would expand iPXE settings and
//! line breaks would start new commands.

use std::fmt::Write as _;

use bootbox_linbo::startconf::StartConf;
use bootbox_linbo::MacAddr;
use bootbox_store::{BootMode, BootView};

use crate::decide::effective_mode;
use crate::{BootConfig, UnknownPolicy};

/// LINBO's kernel and initramfs in the LINBO tree.
pub const LINBO_KERNEL: &str = "linbo64";
/// LINBO's initramfs.
pub const LINBO_INITRD: &str = "linbofs64";

/// The entry script for iPXE that does not say who it is yet (no `mac`
/// query). It retries DHCP until an answer with a filename arrived — the
/// guard against a lost ProxyDHCP offer — then asks for its own script.
pub fn entry_script(cfg: &BootConfig) -> String {
    let url = cfg.script_url();
    format!(
        "#!ipxe\n\
         # Bootbox entry: make sure DHCP (with the ProxyDHCP answer) completed\n\
         set tries:int32 0\n\
         :dhcp\n\
         isset ${{filename}} && goto ready ||\n\
         inc tries\n\
         iseq ${{tries}} 10 && goto ready ||\n\
         echo Bootbox: waiting for the boot server answer (try ${{tries}})\n\
         dhcp || sleep 2\n\
         goto dhcp\n\
         :ready\n\
         chain --replace {url}?mac=${{mac}}&platform=${{platform}}&arch=${{buildarch}}\n"
    )
}

/// The script for one PC. `view` is `None` for an unregistered MAC.
pub fn ipxe_script(view: Option<&BootView>, mac: MacAddr, cfg: &BootConfig) -> String {
    let Some(view) = view else {
        return match cfg.unknown {
            UnknownPolicy::Register => register_script(mac),
            UnknownPolicy::Ignore => local_script("this PC is not registered"),
        };
    };
    if !view.host.pxe.is_pxe() {
        return local_script("network boot is off for this PC (PXE flag 0)");
    }
    match effective_mode(view) {
        BootMode::Linbo => linbo_script(view, cfg),
        BootMode::Local => local_script("boot mode: local disk"),
        BootMode::Menu => menu_script(view, cfg),
        BootMode::Custom {
            kernel,
            initrd,
            cmdline,
        } => custom_script(view, cfg, &kernel, &initrd, &cmdline),
    }
}

/// The LINBO kernel command line for a host: identity for LINBO (which
/// gets no group from a school DHCP server in ProxyDHCP mode), the box as
/// LINBO server — `server=` for LINBO before 4.2.8, `bootboxserver=` for
/// the init.sh patch of `bootbox linbofs build` (later LINBO takes the
/// DHCP server identifier otherwise) — the group's KernelOptions from
/// start.conf, and `netboot`.
pub fn linbo_cmdline(view: &BootView, cfg: &BootConfig) -> String {
    let mut line = format!(
        "initrd={LINBO_INITRD} server={ip} hostgroup={} hostname={} {}={ip}",
        view.host.group,
        view.host.hostname,
        crate::grub::SERVER_PARAM,
        ip = cfg.server_ip,
    );
    let options = view
        .group
        .as_ref()
        .and_then(|g| g.start_conf.as_deref())
        .and_then(|text| StartConf::parse(text).ok())
        .and_then(|p| p.conf.kernel_options().map(str::to_string));
    if let Some(opts) = options.filter(|o| safe_cmdline(o)) {
        let _ = write!(line, " {}", opts.trim());
    }
    line.push_str(" netboot");
    line
}

/// True when `s` can be placed on an iPXE `kernel` line as is.
pub fn safe_cmdline(s: &str) -> bool {
    !s.chars().any(|c| c == '$' || c.is_control())
}

fn header(view: &BootView) -> String {
    format!(
        "#!ipxe\necho Bootbox: {} (room {}, group {})\n",
        view.host.hostname, view.host.room, view.host.group
    )
}

fn retry_footer(cfg: &BootConfig) -> String {
    format!(
        ":failed\necho Bootbox: boot failed, trying again in 10 seconds\nsleep 10\nchain --replace {}?mac=${{mac}}\n",
        cfg.script_url()
    )
}

fn linbo_script(view: &BootView, cfg: &BootConfig) -> String {
    format!(
        "{}echo Starting LINBO\nkernel {} {} || goto failed\ninitrd {} || goto failed\nboot || goto failed\n{}",
        header(view),
        cfg.file_url(LINBO_KERNEL),
        linbo_cmdline(view, cfg),
        cfg.file_url(LINBO_INITRD),
        retry_footer(cfg)
    )
}

fn custom_script(
    view: &BootView,
    cfg: &BootConfig,
    kernel: &str,
    initrd: &str,
    cmdline: &str,
) -> String {
    let url = |p: &str| {
        if p.starts_with("http://") {
            p.to_string()
        } else {
            cfg.file_url(p)
        }
    };
    if [kernel, initrd, cmdline].iter().any(|s| !safe_cmdline(s))
        || kernel.contains(' ')
        || initrd.contains(' ')
    {
        return local_script("the custom boot entry contains characters iPXE cannot take ($, control characters); fix it in the web UI");
    }
    let mut s = header(view);
    let initrd_arg = initrd
        .rsplit('/')
        .next()
        .filter(|b| !initrd.is_empty() && !b.is_empty());
    let _ = write!(s, "kernel {}", url(kernel));
    if let Some(base) = initrd_arg {
        let _ = write!(s, " initrd={base}");
    }
    if !cmdline.trim().is_empty() {
        let _ = write!(s, " {}", cmdline.trim());
    }
    s.push_str(" || goto failed\n");
    if !initrd.is_empty() {
        let _ = writeln!(s, "initrd {} || goto failed", url(initrd));
    }
    s.push_str("boot || goto failed\n");
    s.push_str(&retry_footer(cfg));
    s
}

fn menu_script(view: &BootView, cfg: &BootConfig) -> String {
    format!(
        "{}menu Bootbox: {}\nitem linbo Start LINBO\nitem local Boot from local disk\n\
         choose --default linbo --timeout 10000 target && goto ${{target}} || goto local\n\
         :linbo\nkernel {} {} || goto failed\ninitrd {} || goto failed\nboot || goto failed\n\
         :local\necho Booting from local disk\nexit 1\n{}",
        header(view),
        view.host.hostname,
        cfg.file_url(LINBO_KERNEL),
        linbo_cmdline(view, cfg),
        cfg.file_url(LINBO_INITRD),
        retry_footer(cfg)
    )
}

/// Leaves iPXE so the firmware tries its next boot device (the disk).
fn local_script(reason: &str) -> String {
    format!("#!ipxe\necho Bootbox: {reason}\necho Booting from local disk\nsleep 2\nexit 1\n")
}

fn register_script(mac: MacAddr) -> String {
    format!(
        "#!ipxe\necho\necho Bootbox: this PC is not registered.\n\
         echo Add MAC {mac} in the Bootbox web UI (Hosts) or to devices.csv, then restart it.\n\
         echo Booting from local disk in 15 seconds.\nsleep 15\nexit 1\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::tests::{cfg, view};
    use bootbox_store::{Group, HostSettings};

    fn with_start_conf(kernel_options: &str) -> BootView {
        let mut v = view(1);
        let text = format!("[LINBO]\nServer = 10.0.0.2\nGroup = win11\nKernelOptions = {kernel_options}\n\n[OS]\nName = Windows\n");
        v.group = Some(Group {
            name: "win11".into(),
            start_conf: Some(text),
            description: String::new(),
        });
        v
    }

    #[test]
    fn linbo_script_carries_identity_and_kernel_options() {
        let s = ipxe_script(
            Some(&with_start_conf("quiet splash dhcpretry=5")),
            MacAddr([0, 0, 0, 0, 0, 1]),
            &cfg(),
        );
        assert!(s.starts_with("#!ipxe\n"), "{s}");
        assert!(s.contains("kernel http://10.0.0.2:8080/linbo/linbo64 initrd=linbofs64 server=10.0.0.2 hostgroup=win11 hostname=pc1 bootboxserver=10.0.0.2 quiet splash dhcpretry=5 netboot || goto failed"), "{s}");
        assert!(
            s.contains("initrd http://10.0.0.2:8080/linbo/linbofs64 || goto failed"),
            "{s}"
        );
    }

    #[test]
    fn local_mode_and_pxe_flag_0_exit_to_disk() {
        let mut v = view(1);
        v.host_settings = HostSettings {
            boot: Some(BootMode::Local),
            ..Default::default()
        };
        let mac = MacAddr([0, 0, 0, 0, 0, 1]);
        let s = ipxe_script(Some(&v), mac, &cfg());
        assert!(s.contains("exit 1") && !s.contains("kernel"), "{s}");
        let s = ipxe_script(Some(&view(0)), mac, &cfg());
        assert!(s.contains("PXE flag 0") && !s.contains("kernel"), "{s}");
    }

    #[test]
    fn unknown_pc_gets_registration_hint() {
        let s = ipxe_script(None, MacAddr([0xaa, 0, 0, 0, 0, 1]), &cfg());
        assert!(
            s.contains("AA:00:00:00:00:01") && s.contains("exit 1"),
            "{s}"
        );
    }

    #[test]
    fn custom_kernel_and_injection_guard() {
        let mut v = view(1);
        v.host_settings = HostSettings {
            boot: Some(BootMode::Custom {
                kernel: "test/vmlinuz".into(),
                initrd: "test/initrd.img".into(),
                cmdline: "console=ttyS0".into(),
            }),
            ..Default::default()
        };
        let s = ipxe_script(Some(&v), MacAddr([0; 6]), &cfg());
        assert!(s.contains("kernel http://10.0.0.2:8080/linbo/test/vmlinuz initrd=initrd.img console=ttyS0 || goto failed"), "{s}");
        assert!(
            s.contains("initrd http://10.0.0.2:8080/linbo/test/initrd.img"),
            "{s}"
        );
        v.host_settings = HostSettings {
            boot: Some(BootMode::Custom {
                kernel: "x".into(),
                initrd: String::new(),
                cmdline: "a\nchain http://evil".into(),
            }),
            ..Default::default()
        };
        let s = ipxe_script(Some(&v), MacAddr([0; 6]), &cfg());
        assert!(!s.contains("evil") && s.contains("exit 1"), "{s}");
    }

    #[test]
    fn entry_script_retries_dhcp_then_chains_with_mac() {
        let s = entry_script(&cfg());
        assert!(s.contains("isset ${filename}"), "{s}");
        assert!(
            s.contains("chain --replace http://10.0.0.2:8080/boot.ipxe?mac=${mac}"),
            "{s}"
        );
    }
}
