//! Files in the LINBO tree that are rendered from the registry, so LINBO
//! clients find them where they look (HTTP, TFTP, rsync all serve the
//! same tree):
//!
//! - `start.conf.<group>` for every group with a start.conf;
//! - the legacy host links `start.conf-<ip>` and `start.conf-<mac>` (lower
//!   case) → `start.conf.<group>` for hosts with a PXE flag.
//!
//! Writes are atomic (temp file + rename), unchanged files are not
//! touched, and files this module wrote earlier but no longer wants are
//! removed. What it wrote is listed in `.bootbox-rendered`, so files an
//! admin put there by hand are never deleted.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::Path;

use bootbox_store::{Group, Host};

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

/// Renders the registry's files into `linbo`.
pub fn render(linbo: &Path, groups: &[Group], hosts: &[Host]) -> std::io::Result<RenderReport> {
    let mut report = RenderReport::default();
    let mut wanted = BTreeSet::new();
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
    let manifest = linbo.join(MANIFEST);
    let before: BTreeSet<String> = fs::read_to_string(&manifest)
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default();
    for stale in before.difference(&wanted) {
        // Only plain names this module produces; never follow a path.
        if stale.starts_with("start.conf") && !stale.contains('/') {
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
        let r = render(root, &[g.clone(), no_conf], &hosts).expect("render");
        assert_eq!(
            r.written,
            vec![
                "start.conf.win11",
                "start.conf-00:1a:2b:3c:4d:5e",
                "start.conf-10.0.0.5"
            ]
        );
        assert_eq!(
            fs::read_to_string(root.join("start.conf-10.0.0.5")).expect("via link"),
            "[LINBO]\nGroup = win11\n"
        );

        // Nothing changed: nothing written.
        assert_eq!(
            render(root, std::slice::from_ref(&g), &hosts).expect("again"),
            RenderReport::default()
        );

        // The group goes away: its files go, the admin's file stays.
        let r = render(root, &[], &hosts).expect("render");
        assert_eq!(r.removed.len(), 3, "{r:?}");
        assert!(!root.join("start.conf.win11").exists());
        assert!(root.join("start.conf.handmade").exists());
    }
}
