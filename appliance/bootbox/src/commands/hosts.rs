//! `bootbox hosts list|show|add|rm`.

use anyhow::{bail, Result};
use bootbox_linbo::devices::{DeviceRecord, ExtraFields, IpAssignment, PxeFlag};
use bootbox_linbo::MacAddr;
use bootbox_store::{BootMode, Store};

use super::actor;
use crate::cli::{BootArgs, BootModeArg, HostsCommand};

/// Runs one hosts sub-command.
pub fn run(store: &Store, cmd: HostsCommand) -> Result<()> {
    match cmd {
        HostsCommand::List { room, group, json } => {
            let hosts: Vec<DeviceRecord> = store
                .hosts()?
                .into_iter()
                .filter(|h| room.as_ref().is_none_or(|r| &h.room == r))
                .filter(|h| group.as_ref().is_none_or(|g| &h.group == g))
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&hosts)?);
            } else {
                println!(
                    "{:<24} {:<17} {:<15} {:<12} {:<16} PXE",
                    "HOSTNAME", "MAC", "IP", "ROOM", "GROUP"
                );
                for h in &hosts {
                    println!(
                        "{:<24} {:<17} {:<15} {:<12} {:<16} {}",
                        h.hostname,
                        h.mac,
                        h.ip.to_string(),
                        h.room,
                        h.group,
                        h.pxe.value()
                    );
                }
                eprintln!("{} host(s)", hosts.len());
            }
            Ok(())
        }
        HostsCommand::Show { host } => {
            let found = match host.parse::<MacAddr>() {
                Ok(mac) => store.host_by_mac(mac)?,
                Err(_) => store.host(&host.to_ascii_lowercase())?,
            };
            match found {
                Some(h) => {
                    println!("{}", serde_json::to_string_pretty(&h)?);
                    Ok(())
                }
                None => bail!("no host '{host}' (give a hostname or MAC)"),
            }
        }
        HostsCommand::Add {
            hostname,
            mac,
            ip,
            room,
            group,
            pxe,
            role,
        } => {
            let mac: MacAddr = mac.parse()?;
            let ip = IpAssignment::parse(&ip).map_err(anyhow::Error::msg)?;
            let Some(pxe) = PxeFlag::new(pxe) else {
                bail!("--pxe must be 0, 1, 2 or 3");
            };
            if !role.is_empty() && !bootbox_linbo::devices::ROLES.contains(&role.as_str()) {
                bail!("unknown role '{role}'");
            }
            let host = DeviceRecord {
                room,
                hostname,
                group,
                mac,
                ip,
                pxe,
                role,
                extra: ExtraFields::default(),
            };
            let name = host.hostname.clone();
            store.add_host(host, &actor())?;
            eprintln!("added {}", name.to_ascii_lowercase());
            Ok(())
        }
        HostsCommand::Boot { hostname, boot } => {
            let mode = boot.mode;
            let boot = boot_mode(boot)?;
            let name = hostname.to_ascii_lowercase();
            store.update_host_settings(&name, &actor(), |s| s.boot = boot)?;
            eprintln!("boot mode of {name} set to {mode:?}");
            Ok(())
        }
        HostsCommand::Chain { hostname, chain } => {
            let name = hostname.to_ascii_lowercase();
            store.update_host_settings(&name, &actor(), |s| s.chain = chain.chain())?;
            eprintln!("boot chain of {name} set to {chain:?}");
            Ok(())
        }
        HostsCommand::Rm { hostname } => {
            let h = store.remove_host(&hostname.to_ascii_lowercase(), &actor())?;
            eprintln!("removed {} ({})", h.hostname, h.mac);
            Ok(())
        }
    }
}

/// Builds a boot mode from the command line; `None` means "follow the group".
pub fn boot_mode(args: BootArgs) -> Result<Option<BootMode>> {
    let BootArgs {
        mode,
        kernel,
        initrd,
        cmdline,
    } = args;
    let boot = match mode {
        BootModeArg::Linbo => Some(BootMode::Linbo),
        BootModeArg::Local => Some(BootMode::Local),
        BootModeArg::Menu => Some(BootMode::Menu),
        BootModeArg::Group => None,
        BootModeArg::Custom => Some(BootMode::Custom {
            kernel: kernel.unwrap_or_default(),
            initrd,
            cmdline,
        }),
    };
    if let Some(BootMode::Custom {
        kernel,
        initrd,
        cmdline,
    }) = &boot
    {
        for v in [kernel, initrd, cmdline] {
            if !bootbox_boot::script::safe_cmdline(v) {
                bail!("'{v}' contains '$' or control characters, which iPXE would interpret");
            }
        }
    }
    Ok(boot)
}
