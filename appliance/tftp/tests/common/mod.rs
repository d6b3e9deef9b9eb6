//! Shared helpers for the integration tests: a server on 127.0.0.1 with an
//! ephemeral port running on its own runtime thread, an event recorder, a
//! child-process guard and test data.

#![allow(dead_code)]

pub mod client;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bootbox_tftp::{
    DirSource, FileSource, TftpConfig, TftpServer, TransferEvent, TransferObserver,
};

/// Records every event.
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<TransferEvent>>,
}

impl TransferObserver for Recorder {
    fn on_event(&self, event: TransferEvent) {
        self.events.lock().unwrap().push(event);
    }
}

impl Recorder {
    pub fn events(&self) -> Vec<TransferEvent> {
        self.events.lock().unwrap().clone()
    }

    /// Waits (up to 20 s, generous for loaded CI machines) until an event
    /// matches `pred`, and returns it.
    pub fn wait_for(&self, pred: impl Fn(&TransferEvent) -> bool) -> TransferEvent {
        let start = Instant::now();
        loop {
            if let Some(e) = self.events().into_iter().find(|e| pred(e)) {
                return e;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "expected event not seen; events: {:#?}",
                self.events()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits (up to 20 s) until `n` events match `pred`.
    pub fn wait_count(&self, n: usize, pred: impl Fn(&TransferEvent) -> bool) {
        let start = Instant::now();
        loop {
            let seen = self.events().iter().filter(|e| pred(e)).count();
            if seen >= n {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "saw {seen} of {n} expected events; events: {:#?}",
                self.events()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A server running on its own thread; shut down (gracefully) on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub events: Arc<Recorder>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serves `root` with `tweak` applied to the default config (bound to
    /// 127.0.0.1:0).
    pub fn start(root: &Path, tweak: impl FnOnce(&mut TftpConfig)) -> TestServer {
        Self::start_with(DirSource::new(root).unwrap(), tweak)
    }

    /// Like [`TestServer::start`] with any source.
    pub fn start_with<S: FileSource>(source: S, tweak: impl FnOnce(&mut TftpConfig)) -> TestServer {
        let mut config = TftpConfig::new("127.0.0.1:0".parse().unwrap());
        tweak(&mut config);
        let events = Arc::new(Recorder::default());
        let observer = Arc::clone(&events);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let server = TftpServer::bind(config, source, observer).await.unwrap();
                addr_tx.send(server.local_addr()).unwrap();
                server
                    .run(async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server did not start");
        TestServer {
            addr,
            events,
            shutdown: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Asks the server to stop accepting; returns the thread to join.
    pub fn begin_shutdown(&mut self) -> JoinHandle<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.thread.take().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Do not join: a failed test may have left a transfer waiting for
        // its retransmission timeout; the process exits anyway.
    }
}

/// Kills (and reaps) a child process on drop, so a failing test never
/// leaves clients running.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), different per `seed`.
pub fn test_data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `len` bytes of test data to `root/name`, returns the content.
pub fn write_file(root: &Path, name: &str, len: usize) -> Vec<u8> {
    let data = test_data(len, len as u64 ^ name.len() as u64);
    let path: PathBuf = root.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, &data).unwrap();
    data
}

/// True if `program` can be run (used to skip real-client tests loudly when
/// a client is not installed).
pub fn have(program: &str, arg: &str) -> bool {
    std::process::Command::new(program)
        .arg(arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}
