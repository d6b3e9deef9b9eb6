//! Files in the LINBO tree that are rendered from the registry, so LINBO
//! clients find them where they look (HTTP, TFTP, rsync all serve the
//! same tree):
//!
//! - `start.conf.<group>` for every group with a start.conf;
//! - the legacy host links `start.conf-<ip>` and `start.conf-<mac>` (lower
//!   case) → `start.conf.<group>` for hosts with a PXE flag;
//! - GRUB's network configs ([`crate::grub`]): `boot/grub/grub.cfg`,
//!   `boot/grub/<group>.cfg` for groups with PXE hosts, and the host links
//!   `boot/grub/hostcfg/<host>.cfg` and `boot/grub/hostcfg/<mac>.cfg`
//!   → `../<group>.cfg`. A GRUB file an
//!   admin wrote (no bootbox marker, not rendered before) is left alone.
//!
//! Writes are atomic (temp file + rename), unchanged files are not
//! touched, and files this module wrote earlier but no longer wants are
//! removed. What it wrote is listed in `.bootbox-rendered`, so files an
//! admin put there by hand are never deleted.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::Path;

use bootbox_linbo::startconf::StartConf;
use bootbox_store::{Group, Host};

use crate::grub::{self, LinboSource};

/// Name of the list of rendered files in the LINBO root.
pub const MANIFEST: &str = ".bootbox-rendered";

/// What one rendering pass changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RenderReport {
    /// Files written or links created.
    pub written: Vec<String>,
    /// Files removed because the registry no longer has them.
    pub removed: Vec<String>,
}

/// Renders the registry's files into `linbo`; GRUB fetches LINBO as
/// `src` says.
pub fn render(
    linbo: &Path,
    groups: &[Group],
    hosts: &[Host],
    src: &LinboSource,
) -> std::io::Result<RenderReport> {
    let mut report = RenderReport::default();
    let mut wanted = BTreeSet::new();
    let manifest = linbo.join(MANIFEST);
    let before: BTreeSet<String> = fs::read_to_string(&manifest)
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default();
    for g in groups {
        let Some(text) = &g.start_conf else { continue };
        let name = format!("start.conf.{}", g.name);
        if write_if_changed(&linbo.join(&name), text.as_bytes())? {
            report.written.push(name.clone());
        }
        wanted.insert(name);
    }
    for h in hosts.iter().filter(|h| h.pxe.is_pxe()) {
        let target = format!("start.conf.{}", h.group);
        if !wanted.contains(&target) {
            continue;
        }
        let mut links = vec![format!(
            "start.conf-{}",
            h.mac.to_string().to_ascii_lowercase()
        )];
        if let Some(ip) = h.ip.addr() {
            links.push(format!("start.conf-{ip}"));
        }
        for link in links {
            if link_if_changed(&linbo.join(&link), &target)? {
                report.written.push(link.clone());
            }
            wanted.insert(link);
        }
    }
    render_grub(linbo, groups, hosts, src, &before, &mut wanted, &mut report)?;
    for stale in before.difference(&wanted) {
        // Only names this module produces; never follow a path.
        if is_rendered_name(stale) && !admin_grub_file(linbo, stale) {
            match fs::remove_file(linbo.join(stale)) {
                Ok(()) => report.removed.push(stale.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    if before != wanted {
        let list: String = wanted.iter().map(|n| format!("{n}\n")).collect();
        write_if_changed(&manifest, list.as_bytes())?;
    }
    Ok(report)
}

/// Names [`render`] may write (and therefore remove again).
fn is_rendered_name(name: &str) -> bool {
    let plain = |n: &str| !n.is_empty() && !n.contains('/') && n != "." && n != "..";
    if name.starts_with("start.conf") {
        return plain(name);
    }
    match name.strip_prefix("boot/grub/") {
        Some(rest) => match rest.strip_prefix("hostcfg/") {
            Some(host) => plain(host) && host.ends_with(".cfg"),
            None => plain(rest) && rest.ends_with(".cfg"),
        },
        None => false,
    }
}

/// True for a regular file under `boot/grub/` without Bootbox's marker:
/// an admin's (or an imported) customisation that replaced a file this
/// module wrote, so it is neither overwritten nor removed.
fn admin_grub_file(linbo: &Path, name: &str) -> bool {
    if !name.starts_with("boot/grub/") {
        return false;
    }
    let path = linbo.join(name);
    fs::symlink_metadata(&path).is_ok_and(|m| m.is_file())
        && !fs::read_to_string(&path).is_ok_and(|t| t.starts_with(grub::MARKER))
}

/// GRUB's files: main config, group menus, host links.
fn render_grub(
    linbo: &Path,
    groups: &[Group],
    hosts: &[Host],
    src: &LinboSource,
    before: &BTreeSet<String>,
    wanted: &mut BTreeSet<String>,
    report: &mut RenderReport,
) -> std::io::Result<()> {
    let grub_dir = linbo.join("boot/grub");
    fs::create_dir_all(grub_dir.join("hostcfg"))?;
    // LINBO's rule: a regular file without the marker is the admin's (even
    // where this module wrote one before, e.g. after an import) and stays
    // untouched; so does anything else there that this module did not
    // write.
    let ours = |name: &str| match fs::symlink_metadata(linbo.join(name)) {
        Err(_) => true,
        Ok(m) if m.is_file() => !admin_grub_file(linbo, name),
        Ok(_) => before.contains(name),
    };
    let mut put = |name: String, text: String, report: &mut RenderReport| -> std::io::Result<()> {
        if ours(&name) {
            if write_if_changed(&linbo.join(&name), text.as_bytes())? {
                report.written.push(name.clone());
            }
            wanted.insert(name);
        }
        Ok(())
    };
    put(
        "boot/grub/grub.cfg".to_string(),
        grub::network_main_cfg(src),
        report,
    )?;
    let mut menus = BTreeSet::new();
    for g in groups {
        if !hosts.iter().any(|h| h.group == g.name && h.pxe.is_pxe()) {
            continue;
        }
        let Some(conf) = g
            .start_conf
            .as_deref()
            .and_then(|t| StartConf::parse(t).ok())
        else {
            continue;
        };
        put(
            format!("boot/grub/{}.cfg", g.name),
            grub::group_cfg(&g.name, &conf.conf, src),
            report,
        )?;
        menus.insert(g.name.clone());
    }
    for h in hosts
        .iter()
        .filter(|h| h.pxe.is_pxe() && menus.contains(&h.group))
    {
        // By name (DHCP option 12) and by MAC (`$net_default_mac`, lower
        // case with colons): in ProxyDHCP mode GRUB sees only the school's
        // DHCP answer, which usually names neither host nor group.
        let by_mac = h.mac.to_string().to_ascii_lowercase();
        for key in [h.hostname.clone(), by_mac] {
            let name = format!("boot/grub/hostcfg/{key}.cfg");
            let path = linbo.join(&name);
            // A regular file there is the admin's custom host menu.
            if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                continue;
            }
            if link_if_changed(&path, &format!("../{}.cfg", h.group))? {
                report.written.push(name.clone());
            }
            wanted.insert(name);
        }
    }
    Ok(())
}

fn write_if_changed(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) && fs::read(path)? == bytes {
        return Ok(false);
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    Ok(true)
}

fn link_if_changed(path: &Path, target: &str) -> std::io::Result<bool> {
    if fs::read_link(path).is_ok_and(|t| t == Path::new(target)) {
        return Ok(false);
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    fs::rename(&tmp, path)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(line: &str) -> Host {
        bootbox_linbo::devices::parse(line)
            .expect("valid")
            .records
            .remove(0)
    }

    #[test]
    fn renders_links_and_removes_only_its_own_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fs::write(root.join("start.conf.handmade"), "admin's own").expect("write");
        let g = Group {
            name: "win11".into(),
            start_conf: Some("[LINBO]\nGroup = win11\n".into()),
            description: String::new(),
        };
        let no_conf = Group {
            name: "empty".into(),
            start_conf: None,
            description: String::new(),
        };
        let hosts = [
            host("r1;pc1;win11;00:1A:2B:3C:4D:5E;10.0.0.5;;;;;;1"),
            host("r1;pc2;win11;00:1A:2B:3C:4D:5F;DHCP;;;;;;0"),
            host("r1;pc3;empty;00:1A:2B:3C:4D:60;DHCP;;;;;;1"),
        ];
        let src = LinboSource {
            http_port: None,
            server_ip: None,
        };
        let r = render(root, &[g.clone(), no_conf], &hosts, &src).expect("render");
        assert_eq!(
            r.written,
            vec![
                "start.conf.win11",
                "start.conf-00:1a:2b:3c:4d:5e",
                "start.conf-10.0.0.5",
                "boot/grub/grub.cfg",
                "boot/grub/win11.cfg",
                "boot/grub/hostcfg/pc1.cfg",
                "boot/grub/hostcfg/00:1a:2b:3c:4d:5e.cfg",
            ]
        );
        for link in ["pc1", "00:1a:2b:3c:4d:5e"] {
            assert!(
                fs::read_to_string(root.join(format!("boot/grub/hostcfg/{link}.cfg")))
                    .expect("via link")
                    .starts_with(grub::MARKER)
            );
        }
        assert_eq!(
            fs::read_to_string(root.join("start.conf-10.0.0.5")).expect("via link"),
            "[LINBO]\nGroup = win11\n"
        );

        // Nothing changed: nothing written.
        assert_eq!(
            render(root, std::slice::from_ref(&g), &hosts, &src).expect("again"),
            RenderReport::default()
        );

        // The group goes away: its files go, the admin's file stays.
        let r = render(root, &[], &hosts, &src).expect("render");
        assert_eq!(r.removed.len(), 6, "{r:?}");
        assert!(
            root.join("boot/grub/grub.cfg").exists(),
            "main config stays"
        );
        assert!(!root.join("start.conf.win11").exists());
        assert!(root.join("start.conf.handmade").exists());
    }

    #[test]
    fn admins_grub_files_are_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fs::create_dir_all(root.join("boot/grub/hostcfg")).expect("mkdir");
        fs::write(root.join("boot/grub/win11.cfg"), "# my own menu\n").expect("write");
        fs::write(root.join("boot/grub/hostcfg/pc1.cfg"), "# pc1 special\n").expect("write");
        let g = Group {
            name: "win11".into(),
            start_conf: Some("[LINBO]\nGroup = win11\n".into()),
            description: String::new(),
        };
        let hosts = [host("r1;pc1;win11;00:1A:2B:3C:4D:5E;10.0.0.5;;;;;;1")];
        let src = LinboSource {
            http_port: Some(8080),
            server_ip: None,
        };
        render(root, &[g], &hosts, &src).expect("render");
        assert_eq!(
            fs::read_to_string(root.join("boot/grub/win11.cfg")).expect("read"),
            "# my own menu\n"
        );
        assert_eq!(
            fs::read_to_string(root.join("boot/grub/hostcfg/pc1.cfg")).expect("read"),
            "# pc1 special\n"
        );
        render(root, &[], &hosts, &src).expect("render");
        assert!(root.join("boot/grub/win11.cfg").exists());
    }

    #[test]
    fn files_replaced_after_rendering_become_the_admins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let g = Group {
            name: "win11".into(),
            start_conf: Some("[LINBO]\nGroup = win11\n".into()),
            description: String::new(),
        };
        let hosts = [host("r1;pc1;win11;00:1A:2B:3C:4D:5E;10.0.0.5;;;;;;1")];
        let src = LinboSource {
            http_port: None,
            server_ip: None,
        };
        render(root, std::slice::from_ref(&g), &hosts, &src).expect("render");
        // An import puts customised files over the rendered ones.
        fs::write(root.join("boot/grub/win11.cfg"), "# imported menu\n").expect("write");
        fs::remove_file(root.join("boot/grub/hostcfg/pc1.cfg")).expect("rm link");
        fs::write(root.join("boot/grub/hostcfg/pc1.cfg"), "# imported host\n").expect("write");
        render(root, std::slice::from_ref(&g), &hosts, &src).expect("render");
        let read = |n: &str| fs::read_to_string(root.join(n)).expect("read");
        assert_eq!(read("boot/grub/win11.cfg"), "# imported menu\n");
        assert_eq!(read("boot/grub/hostcfg/pc1.cfg"), "# imported host\n");
        // Not removed either when the group goes away.
        render(root, &[], &hosts, &src).expect("render");
        assert_eq!(read("boot/grub/win11.cfg"), "# imported menu\n");
        assert_eq!(read("boot/grub/hostcfg/pc1.cfg"), "# imported host\n");
    }

    #[test]
    fn only_own_shapes_are_removable() {
        assert!(is_rendered_name("start.conf.g1"));
        assert!(is_rendered_name("boot/grub/g1.cfg"));
        assert!(is_rendered_name("boot/grub/hostcfg/pc1.cfg"));
        assert!(!is_rendered_name("boot/grub/../../etc.cfg"));
        assert!(!is_rendered_name("images/x.qcow2"));
        assert!(!is_rendered_name("start.conf/../x"));
    }
}
