//! One function per CLI command. Each opens what it needs, does one thing
//! and returns an `anyhow` error with a cause a school admin can act on.

pub mod central;
pub mod firmware;
mod groups;
pub mod grub;
pub mod hook;
mod hosts;
mod import;
pub mod linbofs;
pub mod remote;
pub mod schedules;

use std::path::Path;

use anyhow::{Context, Result};
use bootbox_store::Store;

use crate::cli::{Cli, Command, ExportCommand, ImportCommand, Merge, TokensCommand};
use crate::datadir::{DataDir, DirLock};
use crate::{logging, serve};

/// Who CLI actions are attributed to in the audit log.
pub fn actor() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    // Firmware commands work on the boot partition, not the data directory.
    let cli = match cli.command {
        Command::Firmware(cmd) => return firmware::run(cmd),
        _ => cli,
    };
    let dir = DataDir::prepare(&cli.data)?;
    match cli.command {
        // The central role has its own database; the box side takes the
        // directory lock itself where it touches the registry.
        Command::Central(cmd) => central::run(&dir, cmd),
        Command::Serve(args) => {
            logging::init(args.log_format);
            let (_lock, store) = open(&dir)?;
            serve::run(&dir, store, &args)
        }
        Command::Import(ImportCommand::Devices {
            file,
            dry_run,
            merge,
        }) => {
            let (_lock, store) = open(&dir)?;
            import::devices(&store, &file, dry_run, strategy(merge))
        }
        Command::Import(ImportCommand::Linuxmuster {
            dir: src,
            dry_run,
            merge,
        }) => {
            let (_lock, store) = open(&dir)?;
            import::linuxmuster(&store, &dir, &src, dry_run, strategy(merge))
        }
        Command::Export(ExportCommand::Devices { file }) => {
            let (_lock, store) = open(&dir)?;
            export_devices(&store, &file)
        }
        Command::Hosts(cmd) => {
            let (_lock, store) = open(&dir)?;
            hosts::run(&store, cmd)
        }
        Command::Groups(cmd) => {
            let (_lock, store) = open(&dir)?;
            groups::run(&store, cmd)
        }
        Command::Tokens(cmd) => {
            let (_lock, store) = open(&dir)?;
            tokens(&store, cmd)
        }
        Command::Remote(args) => remote::run(&dir, args),
        Command::Schedules(cmd) => {
            let (_lock, store) = open(&dir)?;
            schedules::run(&store, cmd)
        }
        // No lock: the service holding it is who the hook talks to.
        Command::Hook { phase } => hook::run(&dir, &phase),
        Command::Firmware(cmd) => firmware::run(cmd),
        // No lock: the registry is not used, and the running service may hold it.
        Command::Linbofs(cmd) => linbofs::run(&dir, cmd),
        Command::Grub(cmd) => grub::run(&dir, cmd),
    }
}

fn open(dir: &DataDir) -> Result<(DirLock, Store)> {
    let lock = dir.lock()?;
    let store = Store::open(dir.db_path())
        .with_context(|| format!("cannot open the registry {}", dir.db_path().display()))?;
    Ok((lock, store))
}

fn strategy(m: Merge) -> bootbox_store::MergeStrategy {
    match m {
        Merge::Replace => bootbox_store::MergeStrategy::Replace,
        Merge::Update => bootbox_store::MergeStrategy::Update,
        Merge::AddOnly => bootbox_store::MergeStrategy::AddOnly,
    }
}

fn tokens(store: &Store, cmd: TokensCommand) -> Result<()> {
    match cmd {
        TokensCommand::Create { name, scope } => {
            let scope = scope.parse().map_err(anyhow::Error::msg)?;
            let text = store.create_token(&name, scope, &actor())?;
            eprintln!("token {name} created; it is shown only now:");
            println!("{text}");
        }
        TokensCommand::List => {
            for t in store.tokens()? {
                println!("{:<24} {:?}", t.name, t.scope);
            }
        }
        TokensCommand::Revoke { name } => {
            store.revoke_token(&name, &actor())?;
            eprintln!("token {name} revoked");
        }
    }
    Ok(())
}

fn export_devices(store: &Store, file: &Path) -> Result<()> {
    let text = bootbox_linbo::devices::render(&store.hosts()?);
    if file.as_os_str() == "-" {
        print!("{text}");
        return Ok(());
    }
    write_atomic(file, text.as_bytes())?;
    eprintln!("wrote {} hosts to {}", text.lines().count(), file.display());
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file and a rename, so the
/// target is either the old or the new content, never half of it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}
