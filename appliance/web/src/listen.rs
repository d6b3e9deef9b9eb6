//! The box's HTTP listener (boot endpoints, API and UI on plain HTTP).
//!
//! Served by axum-server (already used for HTTPS, [`crate::tls::serve`])
//! rather than `axum::serve`, because the HTTP/1 connection builder must
//! be configurable: response header names go out in title case
//! (`Content-Length`, not hyper's default `content-length`). GRUB 2.06's
//! `http` module, which loads LINBO's kernel and linbofs on the GRUB
//! chain, compares header names byte by byte; with lower-case names it
//! never learns the size and waits on the kept-alive connection until it
//! times out. Header names are case-insensitive for every other client.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;

/// How long open connections get to finish after `stop` completes.
const DRAIN: Duration = Duration::from_secs(5);

/// A shutdown handle that starts a graceful shutdown when `stop` completes.
pub(crate) fn shutdown_handle(
    stop: impl Future<Output = ()> + Send + 'static,
) -> axum_server::Handle<SocketAddr> {
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        stop.await;
        h.graceful_shutdown(Some(DRAIN));
    });
    handle
}

/// Serves `app` over plain HTTP on `listener` until `stop` completes.
/// Handlers see the peer address as `ConnectInfo<SocketAddr>`.
pub async fn serve_http(
    listener: std::net::TcpListener,
    app: Router,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut server = axum_server::from_tcp(listener)?.handle(shutdown_handle(stop));
    server.http_builder().http1().title_case_headers(true);
    server
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// The raw response carries `Content-Length` spelled as GRUB expects.
    #[tokio::test]
    async fn header_names_are_title_case() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().route("/f", axum::routing::get(|| async { "hello" }));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_http(listener, app, async {
            let _ = rx.await;
        }));
        let head = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.write_all(b"GET /f HTTP/1.1\r\nHost: x\r\nUser-Agent: GRUB 2.06\r\n\r\n")
                .expect("send");
            let mut buf = vec![0u8; 1024];
            let n = s.read(&mut buf).expect("read");
            String::from_utf8_lossy(&buf[..n]).into_owned()
        })
        .await
        .expect("client");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("\r\nContent-Length: 5\r\n"), "{head}");
        let _ = tx.send(());
        server.await.expect("join").expect("serve");
    }
}
