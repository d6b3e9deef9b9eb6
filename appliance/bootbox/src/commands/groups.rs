//! `bootbox groups list|boot`.

use anyhow::{bail, Result};
use bootbox_store::Store;

use super::actor;
use super::hosts::boot_mode;
use crate::cli::{BootModeArg, GroupsCommand};

/// Runs one groups sub-command.
pub fn run(store: &Store, cmd: GroupsCommand) -> Result<()> {
    match cmd {
        GroupsCommand::List => {
            let hosts = store.hosts()?;
            println!("{:<20} {:>6} {:<10} START.CONF", "GROUP", "HOSTS", "BOOT");
            for g in store.groups()? {
                let n = hosts.iter().filter(|h| h.group == g.name).count();
                let mode = match store.group_settings(&g.name)?.boot {
                    bootbox_store::BootMode::Linbo => "linbo",
                    bootbox_store::BootMode::Local => "local",
                    bootbox_store::BootMode::Menu => "menu",
                    bootbox_store::BootMode::Custom { .. } => "custom",
                };
                let conf = if g.start_conf.is_some() {
                    "yes"
                } else {
                    "missing"
                };
                println!("{:<20} {n:>6} {mode:<10} {conf}", g.name);
            }
            Ok(())
        }
        GroupsCommand::Boot { group, boot } => {
            let mode = boot.mode;
            if mode == BootModeArg::Group {
                bail!("a group cannot follow itself; use linbo, local, menu or custom");
            }
            let boot = boot_mode(boot)?.unwrap_or_default();
            store.update_group_settings(&group, &actor(), |s| s.boot = boot)?;
            eprintln!("boot mode of group {group} set to {mode:?}");
            Ok(())
        }
        GroupsCommand::Chain { group, chain } => {
            let Some(chain_value) = chain.chain() else {
                bail!("a group cannot follow itself; use ipxe or grub");
            };
            store.update_group_settings(&group, &actor(), |s| s.chain = chain_value)?;
            eprintln!("boot chain of group {group} set to {chain:?}");
            Ok(())
        }
    }
}
