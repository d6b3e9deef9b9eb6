//! `bootbox import devices` and `bootbox import linuxmuster`.

use std::path::Path;

use anyhow::{bail, Result};
use bootbox_images::linuxmuster::{self, ExportError};
use bootbox_linbo::devices::{DeviceRecord, Devices};
use bootbox_store::{ImportBatch, ImportPlan, MergeStrategy, Store};

use super::actor;
use crate::datadir::DataDir;

/// Imports a devices.csv.
pub fn devices(store: &Store, file: &Path, dry_run: bool, strategy: MergeStrategy) -> Result<()> {
    let devices = parse_devices_file(file)?;
    let batch = ImportBatch {
        devices: Some(devices),
        strategy,
        ..ImportBatch::default()
    };
    run_batch(store, &batch, dry_run, false, || Ok(()))
}

/// Imports devices.csv, the start.conf files, the image tree, the GRUB
/// customisations and the pending on-boot files of a linuxmuster server
/// copy in `src` (read by [`bootbox_images::linuxmuster`], the same code
/// the web wizard uses). The plan lists every file taken over and what is
/// left behind; a dry run writes nothing.
pub fn linuxmuster(
    store: &Store,
    data: &DataDir,
    src: &Path,
    dry_run: bool,
    strategy: MergeStrategy,
) -> Result<()> {
    let export = match linuxmuster::read(src) {
        Ok(ex) => ex,
        Err(e) => return Err(report_export_error(e)),
    };
    for w in &export.warnings {
        eprintln!("{w}");
    }
    if export.devices_file.is_none() {
        eprintln!(
            "note: no devices.csv found in {}; importing groups and images only",
            src.display()
        );
    }
    let batch = ImportBatch {
        devices: export.devices.clone(),
        strategy,
        groups: export.groups.clone(),
        images: export.images.clone(),
    };
    let linbo = data.linbo();
    let files_pending = print_file_plan(&export, &linbo);
    // Files first (each image folder appears atomically, the other files
    // are staged and then renamed), registry second: a crash in between
    // leaves unregistered files, never entries without files. Runs only
    // after the plan was found free of conflicts.
    let copy_files = || -> Result<()> {
        for note in linuxmuster::copy_images(&export, &linbo)? {
            eprintln!("{note}");
        }
        for note in linuxmuster::copy_files(&export, &linbo)? {
            eprintln!("{note}");
        }
        Ok(())
    };
    run_batch(store, &batch, dry_run, files_pending, copy_files)
}

/// Prints the files the import takes over (and leaves behind); true if
/// any would be written.
fn print_file_plan(export: &linuxmuster::Export, linbo: &Path) -> bool {
    use linuxmuster::FileAction;
    let mut pending = false;
    for (name, _) in &export.image_dirs {
        if !linbo.join("images").join(name).exists() {
            println!("+ files  images/{name}/ (image folder)");
            pending = true;
        } else {
            println!("  files  images/{name}/: exists on the box, kept");
        }
    }
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for (f, action) in linuxmuster::file_plan(export, linbo) {
        let (sign, note) = match action {
            FileAction::Copy => ("+", ""),
            FileAction::Replace => ("~", ", replaces the one Bootbox rendered"),
            FileAction::Same => ("=", ", already there"),
            FileAction::Keep => (" ", ": a different file exists on the box, kept"),
        };
        pending |= matches!(action, FileAction::Copy | FileAction::Replace);
        if matches!(action, FileAction::Copy | FileAction::Replace) {
            *counts.entry(f.kind.label()).or_default() += 1;
        }
        println!("{sign} files  {} ({}{note})", f.rel, f.kind.label());
    }
    for n in &export.not_taken {
        println!("- left   {n}");
    }
    if !counts.is_empty() {
        let list: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
        println!("files to take over: {}", list.join(", "));
    }
    pending
}

/// Prints every line of an export error, returns the summary as error.
fn report_export_error(e: ExportError) -> anyhow::Error {
    match &e {
        ExportError::Devices { file, errors } => {
            for l in errors {
                eprintln!("{}:{}: {}", file.display(), l.line, l.message);
            }
        }
        ExportError::StartConfs(problems) => {
            for p in problems {
                eprintln!("{p}");
            }
        }
        _ => {}
    }
    anyhow::Error::new(e)
}

fn run_batch(
    store: &Store,
    batch: &ImportBatch,
    dry_run: bool,
    files_pending: bool,
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
    if plan.is_noop() && !files_pending {
        println!("nothing to do: the registry already matches");
        return Ok(());
    }
    before_apply()?;
    if plan.is_noop() {
        println!("files taken over; the registry already matches");
        return Ok(());
    }
    let applied = store.apply_import(batch, &actor())?;
    println!("imported: {}", applied.summary());
    Ok(())
}

/// Reads and parses a devices.csv; on errors prints every bad line and
/// fails without touching anything.
fn parse_devices_file(file: &Path) -> Result<Devices> {
    let mut warnings = Vec::new();
    let parsed = linuxmuster::read_devices(file, &mut warnings);
    for w in &warnings {
        eprintln!("{w}");
    }
    parsed.map_err(report_export_error)
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
