//! `bootbox import devices` and `bootbox import linuxmuster`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bootbox_linbo::devices::{self, DeviceRecord, Devices};
use bootbox_linbo::{names, LineError};
use bootbox_store::{Group, Image, ImageVersion, ImportBatch, ImportPlan, MergeStrategy, Store};

use super::{actor, read_text};
use crate::datadir::DataDir;

/// Imports a devices.csv.
pub fn devices(store: &Store, file: &Path, dry_run: bool, strategy: MergeStrategy) -> Result<()> {
    let devices = parse_devices_file(file)?;
    let batch = ImportBatch {
        devices: Some(devices),
        strategy,
        ..ImportBatch::default()
    };
    run_batch(store, &batch, dry_run, || Ok(()))
}

/// Imports devices.csv, the start.conf files and the image tree of a
/// linuxmuster server copy in `src`.
pub fn linuxmuster(
    store: &Store,
    data: &DataDir,
    src: &Path,
    dry_run: bool,
    strategy: MergeStrategy,
) -> Result<()> {
    if !src.is_dir() {
        bail!("{} is not a directory", src.display());
    }
    let layout = Layout::detect(src)?;
    let devices = match &layout.devices {
        Some(f) => Some(parse_devices_file(f)?),
        None => {
            eprintln!(
                "note: no devices.csv found in {}; importing groups and images only",
                src.display()
            );
            None
        }
    };
    let groups = read_start_confs(&layout.linbo)?;
    let (images, image_dirs) = read_images(&layout.linbo)?;
    let batch = ImportBatch {
        devices,
        strategy,
        groups,
        images,
    };
    // Files first (each image folder appears atomically), registry second:
    // a crash in between leaves unregistered files, never entries without
    // files. Runs only after the plan was found free of conflicts.
    let copy_images = || -> Result<()> {
        for (name, from) in &image_dirs {
            let to = data.linbo().join("images").join(name);
            if to.exists() {
                eprintln!("image folder {} exists, keeping it", to.display());
                continue;
            }
            copy_tree_atomic(from, &to, &data.linbo().join("images").join("tmp"))?;
        }
        Ok(())
    };
    run_batch(store, &batch, dry_run, copy_images)
}

fn run_batch(
    store: &Store,
    batch: &ImportBatch,
    dry_run: bool,
    before_apply: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let plan = store.plan_import(batch)?;
    print_plan(&plan);
    if !plan.conflicts.is_empty() {
        bail!(
            "{} conflict(s) with the registry; nothing was changed",
            plan.conflicts.len()
        );
    }
    if dry_run {
        println!("dry run: nothing was changed ({})", plan.summary());
        return Ok(());
    }
    if plan.is_noop() {
        println!("nothing to do: the registry already matches");
        return Ok(());
    }
    before_apply()?;
    let applied = store.apply_import(batch, &actor())?;
    println!("imported: {}", applied.summary());
    Ok(())
}

/// Reads and parses a devices.csv; on errors prints every bad line and
/// fails without touching anything.
fn parse_devices_file(file: &Path) -> Result<Devices> {
    let text = read_text(file)?;
    match devices::parse(&text) {
        Ok(d) => {
            print_warnings(file, &d.warnings);
            Ok(d)
        }
        Err(errs) => {
            for e in &errs.errors {
                eprintln!("{}:{}: {}", file.display(), e.line, e.message);
            }
            let lines: std::collections::BTreeSet<usize> =
                errs.errors.iter().map(|e| e.line).collect();
            bail!(
                "{} has {} bad line(s); nothing was imported",
                file.display(),
                lines.len()
            )
        }
    }
}

fn print_warnings(file: &Path, warnings: &[LineError]) {
    for w in warnings {
        eprintln!("{}:{}: warning: {}", file.display(), w.line, w.message);
    }
}

fn print_plan(plan: &ImportPlan) {
    for h in &plan.hosts_added {
        println!("+ host   {}", host_line(h));
    }
    for (old, new) in &plan.hosts_updated {
        println!(
            "~ host   {}: {}",
            new.hostname,
            host_diff(old, new).join(", ")
        );
    }
    for h in &plan.hosts_removed {
        println!("- host   {}", host_line(h));
    }
    for h in &plan.hosts_skipped {
        println!("  host   {h}: exists, left unchanged (add-only)");
    }
    for r in &plan.rooms_new {
        println!("+ room   {r}");
    }
    for g in &plan.groups_new {
        let note = if g.start_conf.is_some() {
            "with start.conf"
        } else {
            "no start.conf yet"
        };
        println!("+ group  {} ({note})", g.name);
    }
    for (old, new) in &plan.groups_changed {
        let before = old.start_conf.as_deref().unwrap_or("").lines().count();
        let after = new.start_conf.as_deref().unwrap_or("").lines().count();
        println!(
            "~ group  {}: start.conf replaced ({before} → {after} lines)",
            new.name
        );
    }
    for i in &plan.images {
        println!("+ image  {} ({} file version(s))", i.name, i.versions.len());
    }
    for c in &plan.conflicts {
        println!("! {c}");
    }
    if plan.hosts_unchanged > 0 {
        println!("= {} host(s) unchanged", plan.hosts_unchanged);
    }
}

fn host_line(h: &DeviceRecord) -> String {
    format!(
        "{:<20} {} {:<15} room {} group {} pxe {}",
        h.hostname,
        h.mac,
        h.ip.to_string(),
        h.room,
        h.group,
        h.pxe.value()
    )
}

fn host_diff(old: &DeviceRecord, new: &DeviceRecord) -> Vec<String> {
    let mut out = Vec::new();
    let mut cmp = |what: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{what} {a} → {b}"));
        }
    };
    cmp("room", old.room.clone(), new.room.clone());
    cmp("group", old.group.clone(), new.group.clone());
    cmp("MAC", old.mac.to_string(), new.mac.to_string());
    cmp("IP", old.ip.to_string(), new.ip.to_string());
    cmp(
        "PXE",
        old.pxe.value().to_string(),
        new.pxe.value().to_string(),
    );
    cmp("role", old.role.clone(), new.role.clone());
    if old.extra != new.extra {
        out.push("other fields".into());
    }
    out
}

/// Where the pieces of a linuxmuster server copy are.
struct Layout {
    devices: Option<PathBuf>,
    linbo: PathBuf,
}

impl Layout {
    fn detect(src: &Path) -> Result<Self> {
        let devices = [
            src.join("devices.csv"),
            src.join("etc/linuxmuster/sophomorix/default-school/devices.csv"),
        ]
        .into_iter()
        .find(|p| p.is_file());
        let linbo = if src.join("srv/linbo").is_dir() {
            src.join("srv/linbo")
        } else {
            src.to_path_buf()
        };
        Ok(Self { devices, linbo })
    }
}

/// Reads every `start.conf.<group>` in the LINBO root. All problems of all
/// files are reported together.
fn read_start_confs(linbo: &Path) -> Result<Vec<Group>> {
    let mut groups = Vec::new();
    let mut problems = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(linbo)
        .with_context(|| format!("cannot list {}", linbo.display()))?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(group) = name.strip_prefix("start.conf.") else {
            continue;
        };
        // Host links (start.conf-<ip>) use '-', not '.'; backups end in '~' etc.
        if names::group(group).is_err() || entry.file_type().is_ok_and(|t| t.is_symlink()) {
            continue;
        }
        let path = entry.path();
        let text = read_text(&path)?;
        match bootbox_linbo::startconf::StartConf::parse(&text) {
            Ok(parsed) => {
                print_warnings(&path, &parsed.warnings);
                groups.push(Group {
                    name: group.to_string(),
                    start_conf: Some(text),
                    description: String::new(),
                });
            }
            Err(errs) => problems.extend(
                errs.errors
                    .iter()
                    .map(|e| format!("{}:{}: {}", path.display(), e.line, e.message)),
            ),
        }
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        bail!(
            "{} problem(s) in start.conf files; nothing was imported",
            problems.len()
        );
    }
    Ok(groups)
}

/// Image folders to copy: `(base name, source folder)`.
type ImageDirs = Vec<(String, PathBuf)>;

/// Reads `images/<base>/` folders: current files and `backups/<ts>/`.
/// Returns the registry entries and the folders to copy.
fn read_images(linbo: &Path) -> Result<(Vec<Image>, ImageDirs)> {
    let root = linbo.join("images");
    let mut images = Vec::new();
    let mut dirs = Vec::new();
    if !root.is_dir() {
        return Ok((images, dirs));
    }
    let mut entries: Vec<_> = fs::read_dir(&root)?.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let base = entry.file_name().to_string_lossy().into_owned();
        if base == "tmp"
            || base == "backups"
            || names::group(&base).is_err()
            || !entry.path().is_dir()
        {
            continue;
        }
        let mut versions = image_versions(&entry.path(), &base, None)?;
        let backups = entry.path().join("backups");
        if backups.is_dir() {
            let mut stamps: Vec<_> = fs::read_dir(&backups)?.filter_map(|e| e.ok()).collect();
            stamps.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
            for ts in stamps {
                let ts_name = ts.file_name().to_string_lossy().into_owned();
                versions.extend(image_versions(&ts.path(), &base, Some(ts_name))?);
            }
        }
        if versions.is_empty() {
            continue;
        }
        images.push(Image {
            name: base.clone(),
            versions,
        });
        dirs.push((base, entry.path()));
    }
    Ok((images, dirs))
}

fn image_versions(dir: &Path, base: &str, backup: Option<String>) -> Result<Vec<ImageVersion>> {
    let mut out = Vec::new();
    for ext in ["qcow2", "qdiff"] {
        let file = format!("{base}.{ext}");
        let path = dir.join(&file);
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        let info_path = dir.join(format!("{file}.info"));
        let timestamp = match fs::read_to_string(&info_path) {
            Ok(text) => match bootbox_linbo::info::ImageInfo::parse(&text) {
                Ok(info) => Some(info.timestamp),
                Err(e) => {
                    eprintln!("{}: warning: ignored: {e}", info_path.display());
                    None
                }
            },
            Err(_) => None,
        };
        let comment = fs::read_to_string(dir.join(format!("{file}.desc")))
            .ok()
            .and_then(|d| d.lines().next().map(str::to_string))
            .unwrap_or_default();
        out.push(ImageVersion {
            file,
            size: meta.len(),
            sha256: None,
            timestamp,
            comment,
            backup: backup.clone(),
        });
    }
    Ok(out)
}

/// Copies (hard-links where possible) `from` to `to` through a staging
/// folder, so `to` appears complete or not at all.
fn copy_tree_atomic(from: &Path, to: &Path, staging_root: &Path) -> Result<()> {
    fs::create_dir_all(staging_root)?;
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = staging_root.join(format!("import-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let result = copy_tree(from, &staging).and_then(|()| {
        fs::rename(&staging, to).with_context(|| format!("cannot move {} into place", to.display()))
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let dst = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dst)?;
        } else if kind.is_file() && fs::hard_link(entry.path(), &dst).is_err() {
            fs::copy(entry.path(), &dst)
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
        // Symlinks are not followed: they could point outside the tree.
    }
    Ok(())
}
