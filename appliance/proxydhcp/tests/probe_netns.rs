//! The network pre-flight against real DHCP servers: Debian's dnsmasq as
//! the school's DHCP server, as a rival PXE server and as a rival
//! ProxyDHCP, plus an empty network. Everything runs in two network
//! namespaces this test creates (names carry the process id) joined by a
//! veth pair; the probe runs in a thread that joined the client namespace.
//! Namespaces and dnsmasq processes are removed by PID/name on drop, also
//! when an assertion fails. Needs root; skips with a message otherwise.

use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bootbox_proxydhcp::probe::{probe, ProbeConfig, ProbeReport};

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces with a veth pair; dnsmasq processes started in the
/// server one. Drop kills them by PID and deletes the namespaces.
struct Net {
    server_ns: String,
    client_ns: String,
    client_if: String,
    server_if: String,
    dir: tempfile::TempDir,
    dnsmasq: Vec<Child>,
}

impl Net {
    fn new(case: &str) -> Self {
        let tag = format!("bbp{}{case}", std::process::id());
        let net = Net {
            server_ns: format!("{tag}s"),
            client_ns: format!("{tag}c"),
            server_if: "vsrv".into(),
            client_if: "vbox".into(),
            dir: tempfile::tempdir().expect("tempdir"),
            dnsmasq: Vec::new(),
        };
        ip(&["netns", "add", &net.server_ns]);
        ip(&["netns", "add", &net.client_ns]);
        ip(&[
            "link",
            "add",
            &net.server_if,
            "netns",
            &net.server_ns,
            "type",
            "veth",
            "peer",
            "name",
            &net.client_if,
            "netns",
            &net.client_ns,
        ]);
        ip(&[
            "-n",
            &net.server_ns,
            "addr",
            "add",
            "10.77.0.1/24",
            "dev",
            &net.server_if,
        ]);
        ip(&["-n", &net.server_ns, "link", "set", &net.server_if, "up"]);
        ip(&[
            "-n",
            &net.client_ns,
            "addr",
            "add",
            "10.77.0.5/24",
            "dev",
            &net.client_if,
        ]);
        ip(&["-n", &net.client_ns, "link", "set", &net.client_if, "up"]);
        ip(&["-n", &net.client_ns, "link", "set", "lo", "up"]);
        net
    }

    /// Starts dnsmasq (DHCP only, no DNS) in the server namespace.
    fn dnsmasq(&mut self, extra: &[&str]) {
        let pid_file: PathBuf = self
            .dir
            .path()
            .join(format!("dnsmasq{}.pid", self.dnsmasq.len()));
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &self.server_ns,
            "dnsmasq",
            "--keep-in-foreground",
        ])
        .arg("--conf-file=/dev/null")
        .arg("--no-resolv")
        .arg("--port=0")
        .arg("--leasefile-ro")
        .arg("--bind-interfaces")
        .arg(format!("--interface={}", self.server_if))
        .arg(format!("--pid-file={}", pid_file.display()))
        .arg("--log-dhcp")
        .args(extra)
        .arg(format!(
            "--log-facility={}",
            self.dir.path().join("dnsmasq.log").display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let child = cmd.spawn().expect("dnsmasq (apt-get install dnsmasq-base)");
        self.dnsmasq.push(child);
        // Ready when it has written its pid file (after binding port 67).
        for _ in 0..100 {
            if pid_file.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("dnsmasq did not start: {extra:?}");
    }

    /// Runs the probe inside the client namespace.
    fn probe(&self) -> ProbeReport {
        let ns = format!("/var/run/netns/{}", self.client_ns);
        let iface = self.client_if.clone();
        std::thread::spawn(move || {
            let f = std::fs::File::open(&ns).expect("netns file");
            nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let mut cfg = ProbeConfig::new(iface);
            cfg.listen = Duration::from_secs(6);
            rt.block_on(probe(&cfg)).expect("probe")
        })
        .join()
        .expect("probe thread")
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for c in &mut self.dnsmasq {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.server_ns])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.client_ns])
            .status();
    }
}

macro_rules! need_root {
    () => {
        if !is_root() {
            eprintln!("SKIPPED: the DHCP pre-flight test needs root (network namespaces)");
            return;
        }
    };
}

#[test]
fn finds_the_school_dhcp_server() {
    need_root!();
    let mut net = Net::new("a");
    net.dnsmasq(&["--dhcp-range=10.77.0.100,10.77.0.150,255.255.255.0,5m"]);
    let r = net.probe();
    eprintln!(
        "{}",
        std::fs::read_to_string(net.dir.path().join("dnsmasq.log")).unwrap_or_default()
    );
    assert_eq!(r.responders.len(), 1, "{r:?}");
    let d = &r.responders[0];
    assert_eq!(d.server_id, SERVER_IP);
    let offered = d.offered_ip.expect("an address is offered");
    assert!(
        (100..=150).contains(&offered.octets()[3]) && offered.octets()[..3] == [10, 77, 0],
        "{offered}"
    );
    assert!(!d.offers_pxe, "plain DHCP offers no boot info: {d:?}");
    assert_eq!(r.dhcp_servers().count(), 1);
    assert_eq!(r.pxe_servers().count(), 0);
}

#[test]
fn finds_a_rival_pxe_server() {
    need_root!();
    let mut net = Net::new("b");
    net.dnsmasq(&[
        "--dhcp-range=10.77.0.100,10.77.0.150,255.255.255.0,5m",
        "--dhcp-boot=pxelinux.0,rival,10.77.0.1",
        "--pxe-service=x86PC,Rival boot menu,pxelinux",
    ]);
    let r = net.probe();
    assert_eq!(r.responders.len(), 1, "{r:?}");
    let d = &r.responders[0];
    assert_eq!(d.server_id, SERVER_IP);
    assert!(d.offered_ip.is_some(), "{d:?}");
    assert!(d.offers_pxe, "{d:?}");
    assert!(d.vendor_options, "pxe-service sends option 43: {d:?}");
    assert_eq!(d.vendor_class.as_deref(), Some("PXEClient"), "{d:?}");
}

#[test]
fn finds_a_rival_proxydhcp() {
    need_root!();
    let mut net = Net::new("c");
    net.dnsmasq(&[
        "--dhcp-range=10.77.0.0,proxy",
        "--pxe-service=x86PC,Rival boot menu,pxelinux",
    ]);
    let r = net.probe();
    assert_eq!(r.responders.len(), 1, "{r:?}");
    let d = &r.responders[0];
    assert_eq!(d.offered_ip, None, "a proxy hands out no address: {d:?}");
    assert!(d.offers_pxe, "{d:?}");
    assert_eq!(r.dhcp_servers().count(), 0);
}

#[test]
fn empty_network_has_no_answer() {
    need_root!();
    let net = Net::new("d");
    let r = net.probe();
    assert!(r.responders.is_empty(), "{r:?}");
}
