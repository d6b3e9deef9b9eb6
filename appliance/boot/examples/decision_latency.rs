//! Benchmark helper: latency of one boot decision against a populated
//! registry.
//!
//! Creates a temporary registry with `HOSTS` hosts (default 10 000) in 12
//! groups, each group with a start.conf carrying KernelOptions, imported in
//! one transaction the way `bootbox import devices` does. Then, after a
//! warm-up, times `LOOKUPS` (default 100 000) decisions for registered MACs
//! in pseudo-random order. One decision is what the boot path does for a
//! PC: `Store::boot_view(mac)` (one redb read transaction: MAC index, host,
//! group, settings) + `dhcp_answer` (firmware rotates BIOS / x64 UEFI /
//! iPXE) + `ipxe_script` (which parses the group's start.conf for the
//! kernel command line).
//!
//! Prints one JSON line with p50/p99/p99.9/max/mean in µs and how many
//! decisions took longer than the 1 ms budget.
//!
//!     decision_latency [HOSTS] [LOOKUPS]
//!
//! Used by `scripts/bench/decision`.

use std::net::Ipv4Addr;
use std::time::Instant;

use bootbox_boot::{
    dhcp_answer, ipxe_script, BootConfig, DhcpAnswer, Firmware, NbpFiles, UnknownPolicy,
};
use bootbox_linbo::MacAddr;
use bootbox_store::{Group, ImportBatch, MergeStrategy, Store};

const GROUPS: usize = 12;
const WARMUP: usize = 5_000;
const BUDGET_US: f64 = 1_000.0;

fn mac_of(i: usize) -> MacAddr {
    MacAddr([
        0x02,
        0x00,
        0x00,
        ((i >> 16) & 0xff) as u8,
        ((i >> 8) & 0xff) as u8,
        (i & 0xff) as u8,
    ])
}

fn start_conf(g: usize) -> String {
    format!(
        "[LINBO]\nServer = 10.0.0.2\nGroup = win11-{g}\nCache = /dev/disk0p5\n\
         DownloadType = torrent\nSystemType = efi64\nKernelOptions = quiet splash dhcpretry=5\n\n\
         [Partition]\nDev = /dev/disk0p1\nLabel = efi\nSize = 200M\nId = ef\nFSType = vfat\nBootable = yes\n\n\
         [Partition]\nDev = /dev/disk0p3\nLabel = windows\nSize = 80G\nId = 7\nFSType = ntfs\n\n\
         [Partition]\nDev = /dev/disk0p5\nLabel = cache\nSize =\nId = 83\nFSType = ext4\n\n\
         [OS]\nName = Windows 11\nBaseImage = win11-{g}.qcow2\nRoot = /dev/disk0p3\nKernel = auto\n\
         StartEnabled = yes\nSyncEnabled = yes\nNewEnabled = yes\nDefaultAction = sync\n"
    )
}

fn devices_csv(hosts: usize) -> String {
    let mut text = String::with_capacity(hosts * 80);
    for i in 0..hosts {
        let room = format!("r{}", 100 + i / 30);
        text.push_str(&format!(
            "{room};pc{i:05};win11-{};{};10.{}.{}.{};;;;classroom-studentcomputer;;1\n",
            i % GROUPS,
            mac_of(i),
            16 + i / 62_500,
            (i / 250) % 250,
            1 + i % 250
        ));
    }
    text
}

/// Value at quantile `q` of sorted `xs`.
fn quantile(xs: &[f64], q: f64) -> f64 {
    let idx = ((xs.len() as f64 - 1.0) * q).round() as usize;
    xs[idx.min(xs.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let hosts: usize = args.next().map_or(Ok(10_000), |s| s.parse())?;
    let lookups: usize = args.next().map_or(Ok(100_000), |s| s.parse())?;
    if hosts == 0 || lookups == 0 || hosts > 1 << 24 {
        return Err("usage: decision_latency [HOSTS 1..16M] [LOOKUPS >= 1]".into());
    }

    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path().join("bootbox.redb"))?;
    let devices = bootbox_linbo::devices::parse(&devices_csv(hosts))
        .map_err(|e| format!("generated devices.csv does not parse: {e:?}"))?;
    let batch = ImportBatch {
        devices: Some(devices),
        strategy: MergeStrategy::Update,
        groups: (0..GROUPS)
            .map(|g| Group {
                name: format!("win11-{g}"),
                start_conf: Some(start_conf(g)),
                description: String::new(),
            })
            .collect(),
        images: Vec::new(),
    };
    let t = Instant::now();
    store.apply_import(&batch, "bench")?;
    let import_s = t.elapsed().as_secs_f64();
    if store.host_count()? != hosts as u64 {
        return Err("import did not register every host".into());
    }

    let cfg = BootConfig {
        server_ip: Ipv4Addr::new(10, 0, 0, 2),
        http_port: 8080,
        unknown: UnknownPolicy::Register,
        nbp: NbpFiles::default(),
    };
    let firmwares = [
        (Firmware::Bios, false),
        (Firmware::EfiX64, false),
        (Firmware::EfiX64, true),
    ];
    // xorshift: a fixed pseudo-random order over the registered MACs.
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };

    let mut bytes = 0usize;
    let mut one = |i: usize, n: u64| -> Result<(), Box<dyn std::error::Error>> {
        let mac = mac_of((n % hosts as u64) as usize);
        let view = store.boot_view(mac)?;
        let (fw, ipxe) = firmwares[i % firmwares.len()];
        let answer = dhcp_answer(view.as_ref(), fw, ipxe, &cfg);
        let script = ipxe_script(view.as_ref(), mac, &cfg);
        if view.is_none() || matches!(answer, DhcpAnswer::Ignore { .. }) {
            return Err(format!("{mac}: registered host got no answer").into());
        }
        if !script.contains("hostgroup=") {
            return Err(format!("{mac}: script is not the LINBO script").into());
        }
        bytes += script.len();
        Ok(())
    };

    for i in 0..WARMUP {
        one(i, next())?;
    }
    let mut us = Vec::with_capacity(lookups);
    let total = Instant::now();
    for i in 0..lookups {
        let n = next();
        let t = Instant::now();
        one(i, n)?;
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let total_s = total.elapsed().as_secs_f64();
    let over = us.iter().filter(|&&x| x > BUDGET_US).count();
    let mean = us.iter().sum::<f64>() / us.len() as f64;
    us.sort_by(f64::total_cmp);
    println!(
        "{{\"hosts\":{hosts},\"groups\":{GROUPS},\"lookups\":{lookups},\"import_seconds\":{import_s:.3},\
         \"p50_us\":{:.2},\"p99_us\":{:.2},\"p999_us\":{:.2},\"max_us\":{:.2},\"mean_us\":{mean:.2},\
         \"decisions_per_second\":{:.0},\"over_budget\":{over},\"budget_us\":{BUDGET_US},\"script_bytes\":{bytes}}}",
        quantile(&us, 0.50),
        quantile(&us, 0.99),
        quantile(&us, 0.999),
        us[us.len() - 1],
        lookups as f64 / total_s,
    );
    Ok(())
}
