//! The hook wire: rsync runs `bootbox hook <phase>` around every transfer;
//! that process sends one [`HookRequest`] (a JSON line) over the service's
//! Unix socket and gets one [`HookReply`] back. A pre-transfer hook that
//! fails makes rsync refuse the transfer, so the answer matters.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixListener;

/// Largest request line accepted (a path and a few fields).
const MAX_LINE: usize = 16 * 1024;
/// How long the hook process waits for the service (log pulls over SSH
/// take a moment; rsync waits for the hook).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// When the hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookPhase {
    /// Before a download from module `linbo`.
    PreDownload,
    /// After a download from module `linbo`.
    PostDownload,
    /// Before an upload to module `linbo-upload`.
    PreUpload,
    /// After an upload to module `linbo-upload`.
    PostUpload,
}

impl HookPhase {
    /// Parses the command-line word (`pre-download`, …).
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "pre-download" => Self::PreDownload,
            "post-download" => Self::PostDownload,
            "pre-upload" => Self::PreUpload,
            "post-upload" => Self::PostUpload,
            _ => return None,
        })
    }

    /// Whether rsync waits for this hook's verdict.
    pub fn is_pre(self) -> bool {
        matches!(self, Self::PreDownload | Self::PreUpload)
    }
}

/// What rsync told the hook (its `RSYNC_*` environment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRequest {
    /// When.
    pub phase: HookPhase,
    /// `RSYNC_MODULE_NAME`.
    pub module: String,
    /// `RSYNC_REQUEST`: `module/path` as the client asked, e.g.
    /// `linbo/start.conf.g1` or `linbo//tmp/linbo.log`. rsync gives it to
    /// pre-transfer hooks only; post hooks find it by [`Self::pid`] (see
    /// [`RequestMemory`]).
    pub request: String,
    /// `RSYNC_PID`: the daemon process serving this connection, the same
    /// in the pre and the post hook.
    pub pid: Option<u32>,
    /// `RSYNC_HOST_ADDR`: the client's address.
    pub host_addr: String,
    /// `RSYNC_USER_NAME` (uploads).
    pub user: Option<String>,
    /// `RSYNC_EXIT_STATUS` (post hooks): 0 = transfer succeeded.
    pub exit_status: Option<i32>,
}

impl HookRequest {
    /// Builds a request from rsync's environment variables.
    pub fn from_env(
        phase: HookPhase,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, HookError> {
        let need = |k: &str| get(k).ok_or_else(|| HookError::MissingEnv(k.to_string()));
        let request = if phase.is_pre() {
            need("RSYNC_REQUEST")?
        } else {
            get("RSYNC_REQUEST").unwrap_or_default()
        };
        Ok(Self {
            phase,
            module: need("RSYNC_MODULE_NAME")?,
            request,
            pid: get("RSYNC_PID").and_then(|p| p.trim().parse().ok()),
            host_addr: need("RSYNC_HOST_ADDR")?,
            user: get("RSYNC_USER_NAME").filter(|u| !u.is_empty()),
            exit_status: get("RSYNC_EXIT_STATUS").and_then(|s| s.trim().parse().ok()),
        })
    }

    /// The requested paths inside the module, each without the module
    /// prefix and leading slashes (`tmp/linbo.log`). rsync separates
    /// several requested paths with spaces.
    pub fn paths(&self) -> Vec<String> {
        self.request
            .split(' ')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let p = p.strip_prefix(self.module.as_str()).unwrap_or(p);
                p.trim_start_matches('/').to_string()
            })
            .collect()
    }
}

/// Remembers each connection's request from its pre-transfer hook for
/// its post-transfer hook (rsync passes `RSYNC_REQUEST` to pre hooks only;
/// LINBO's own hooks keep it in `/tmp/rsync.<pid>` the same way).
#[derive(Debug, Default)]
pub struct RequestMemory {
    by_pid: std::sync::Mutex<std::collections::HashMap<u32, String>>,
}

/// Connections remembered at most (a daemon killed between pre and post
/// hooks leaves entries behind; the table is cleared when full).
const MEMORY_MAX: usize = 4096;

impl RequestMemory {
    /// Fills in the request of a post hook from its pre hook, and
    /// remembers pre hooks' requests. Returns the completed request.
    pub fn complete(&self, mut req: HookRequest) -> HookRequest {
        let Some(pid) = req.pid else {
            return req;
        };
        let mut map = self
            .by_pid
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if req.phase.is_pre() {
            if map.len() >= MEMORY_MAX {
                map.clear();
            }
            map.insert(pid, req.request.clone());
        } else if let Some(r) = map.remove(&pid) {
            if req.request.is_empty() {
                req.request = r;
            }
        }
        req
    }
}

/// The service's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookReply {
    /// Whether rsync may go on (pre hooks) / the work succeeded (post).
    pub ok: bool,
    /// What happened, for rsync's log and the hook's stderr.
    pub message: String,
}

impl HookReply {
    /// Go on.
    pub fn ok(message: impl Into<String>) -> Self {
        Self {
            ok: true,
            message: message.into(),
        }
    }

    /// Refuse (pre) / report a failure (post).
    pub fn refuse(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            message: message.into(),
        }
    }
}

/// Errors of the hook wire.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// rsync did not set a variable it always sets for daemon hooks.
    #[error("{0} is not set: `bootbox hook` must be run by the rsync daemon")]
    MissingEnv(String),
    /// The service is not reachable.
    #[error("cannot reach the bootbox service at {path}: {source}")]
    Connect {
        /// Socket path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Talking to the service failed.
    #[error("hook call failed: {0}")]
    Io(#[from] std::io::Error),
    /// The answer was not a reply.
    #[error("the service sent an invalid answer: {0}")]
    BadReply(String),
}

/// Does the work of each hook; implemented by the service.
pub trait HookHandler: Send + Sync + 'static {
    /// Handles one hook call (on a blocking thread: may do file I/O and
    /// SSH).
    fn handle(&self, req: HookRequest) -> HookReply;
}

/// Sends `req` to the service listening on `socket` (blocking; used by the
/// short-lived hook process).
pub fn call(socket: &Path, req: &HookRequest) -> Result<HookReply, HookError> {
    let mut stream = UnixStream::connect(socket).map_err(|source| HookError::Connect {
        path: socket.display().to_string(),
        source,
    })?;
    stream.set_read_timeout(Some(CALL_TIMEOUT))?;
    stream.set_write_timeout(Some(CALL_TIMEOUT))?;
    let mut line = serde_json::to_vec(req).map_err(|e| HookError::BadReply(e.to_string()))?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply)?;
    serde_json::from_str(&reply).map_err(|e| HookError::BadReply(e.to_string()))
}

/// Serves hook calls on `listener` until `stop` resolves. Each call runs
/// the handler on a blocking thread; malformed requests get a refusal.
pub async fn serve(
    listener: UnixListener,
    handler: Arc<dyn HookHandler>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            () = &mut stop => return,
        };
        let (stream, _) = match conn {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "hook socket accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, handler).await {
                tracing::warn!(error = %e, "hook call failed");
            }
        });
    }
}

async fn answer(
    stream: tokio::net::UnixStream,
    handler: Arc<dyn HookHandler>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader =
        tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(read, MAX_LINE as u64));
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let reply = match serde_json::from_str::<HookRequest>(&line) {
        Ok(req) => tokio::task::spawn_blocking(move || handler.handle(req))
            .await
            .unwrap_or_else(|e| HookReply::refuse(format!("hook handler failed: {e}"))),
        Err(e) => HookReply::refuse(format!("malformed hook request: {e}")),
    };
    let mut out = serde_json::to_vec(&reply).unwrap_or_default();
    out.push(b'\n');
    write.write_all(&out).await?;
    write.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt as _;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn request_from_rsync_environment() {
        let e = [
            ("RSYNC_MODULE_NAME", "linbo"),
            ("RSYNC_REQUEST", "linbo//tmp/linbo.log"),
            ("RSYNC_HOST_ADDR", "10.0.0.11"),
            ("RSYNC_EXIT_STATUS", "0"),
        ];
        let r = HookRequest::from_env(HookPhase::PostDownload, env(&e)).expect("complete");
        assert_eq!(r.paths(), vec!["tmp/linbo.log".to_string()]);
        assert_eq!(r.exit_status, Some(0));
        assert_eq!(r.user, None);
        let missing = HookRequest::from_env(HookPhase::PreDownload, env(&e[..1]));
        assert!(matches!(missing, Err(HookError::MissingEnv(k)) if k == "RSYNC_REQUEST"));
    }

    #[test]
    fn several_requested_paths() {
        let r = HookRequest {
            phase: HookPhase::PreDownload,
            module: "linbo".into(),
            request: "linbo/a.cfg linbo/b.cfg".into(),
            host_addr: "10.0.0.1".into(),
            pid: None,
            user: None,
            exit_status: None,
        };
        assert_eq!(r.paths(), vec!["a.cfg".to_string(), "b.cfg".to_string()]);
    }

    #[test]
    fn post_hooks_learn_the_request_of_their_pre_hook() {
        let mem = RequestMemory::default();
        let env_pre = [
            ("RSYNC_MODULE_NAME", "linbo"),
            ("RSYNC_REQUEST", "linbo/linbocmd/pc01.cmd"),
            ("RSYNC_HOST_ADDR", "10.0.0.11"),
            ("RSYNC_PID", "4242"),
        ];
        let pre = HookRequest::from_env(HookPhase::PreDownload, env(&env_pre)).expect("pre");
        mem.complete(pre);
        let env_post = [
            ("RSYNC_MODULE_NAME", "linbo"),
            ("RSYNC_HOST_ADDR", "10.0.0.11"),
            ("RSYNC_PID", "4242"),
            ("RSYNC_EXIT_STATUS", "0"),
        ];
        let post = HookRequest::from_env(HookPhase::PostDownload, env(&env_post)).expect("post");
        let post = mem.complete(post);
        assert_eq!(post.paths(), vec!["linbocmd/pc01.cmd".to_string()]);
        // Used once.
        let again = HookRequest::from_env(HookPhase::PostDownload, env(&env_post)).expect("post");
        assert!(mem.complete(again).paths().is_empty());
    }

    struct Echo;
    impl HookHandler for Echo {
        fn handle(&self, req: HookRequest) -> HookReply {
            HookReply::ok(format!("{:?} {}", req.phase, req.request))
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn round_trip_and_malformed_input() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("hook.sock");
        let listener = UnixListener::bind(&sock).expect("bind");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, Arc::new(Echo), async {
            let _ = rx.await;
        }));
        let req = HookRequest {
            phase: HookPhase::PreUpload,
            module: "linbo-upload".into(),
            request: "linbo-upload/x.new".into(),
            host_addr: "10.0.0.9".into(),
            pid: Some(7),
            user: Some("linbo".into()),
            exit_status: None,
        };
        let s2 = sock.clone();
        let reply = tokio::task::spawn_blocking(move || call(&s2, &req))
            .await
            .expect("join")
            .expect("reply");
        assert_eq!(reply, HookReply::ok("PreUpload linbo-upload/x.new"));

        let mut raw = tokio::net::UnixStream::connect(&sock)
            .await
            .expect("connect");
        raw.write_all(b"{not json\n").await.expect("write");
        let mut out = String::new();
        raw.read_to_string(&mut out).await.expect("read");
        let reply: HookReply = serde_json::from_str(&out).expect("reply");
        assert!(
            !reply.ok && reply.message.contains("malformed"),
            "{reply:?}"
        );
        let _ = tx.send(());
        server.await.expect("server stops");
    }

    #[test]
    fn no_service_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let req = HookRequest {
            phase: HookPhase::PreDownload,
            module: "linbo".into(),
            request: "linbo/x".into(),
            host_addr: "10.0.0.1".into(),
            pid: None,
            user: None,
            exit_status: None,
        };
        let err = call(&dir.path().join("none.sock"), &req).expect_err("no service");
        assert!(
            err.to_string().contains("cannot reach the bootbox service"),
            "{err}"
        );
    }
}
