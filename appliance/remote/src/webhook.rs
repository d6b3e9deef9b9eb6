//! Webhook notifications: one JSON `POST` to an `http://` URL, over a plain
//! TCP connection (no TLS: the receiver is expected on the school LAN or a
//! local relay).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{RemoteError, Result};

/// Splits `http://host[:port]/path` into (host, port, path).
pub fn parse_url(url: &str) -> Result<(String, u16, String)> {
    let bad = |reason: &str| RemoteError::Webhook {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("needs a host (and no user info)"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
            (h, p.parse::<u16>().map_err(|_| bad("bad port"))?)
        }
        _ => (authority, 80),
    };
    if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(bad(
            "the path must not contain spaces or control characters",
        ));
    }
    Ok((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
        path.to_string(),
    ))
}

/// POSTs `body` as JSON; returns the HTTP status. Anything but 2xx, or no
/// answer within `timeout`, is an error.
pub async fn post_json(url: &str, body: &serde_json::Value, timeout: Duration) -> Result<u16> {
    let (host, port, path) = parse_url(url)?;
    let err = |reason: String| RemoteError::Webhook {
        url: url.to_string(),
        reason,
    };
    let payload = body.to_string();
    let send = async {
        let mut s = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| err(format!("connect: {e}")))?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: bootbox\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            payload.len()
        );
        s.write_all(head.as_bytes())
            .await
            .map_err(|e| err(format!("send: {e}")))?;
        s.write_all(payload.as_bytes())
            .await
            .map_err(|e| err(format!("send: {e}")))?;
        let mut buf = vec![0u8; 1024];
        let mut got = 0;
        while got < buf.len() {
            let n = s
                .read(&mut buf[got..])
                .await
                .map_err(|e| err(format!("read: {e}")))?;
            if n == 0 || buf[..got + n].contains(&b'\n') {
                got += n;
                break;
            }
            got += n;
        }
        let line = String::from_utf8_lossy(&buf[..got]);
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| {
                err(format!(
                    "no HTTP status in answer {:?}",
                    line.lines().next()
                ))
            })?;
        Ok::<u16, RemoteError>(status)
    };
    let status = tokio::time::timeout(timeout, send)
        .await
        .map_err(|_| err(format!("no answer within {} s", timeout.as_secs())))??;
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(err(format!("answered HTTP {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://10.0.0.9:8081/hook?x=1").expect("ok"),
            ("10.0.0.9".into(), 8081, "/hook?x=1".into())
        );
        assert_eq!(
            parse_url("http://example.org").expect("ok"),
            ("example.org".into(), 80, "/".into())
        );
        assert!(parse_url("https://x/").is_err());
        assert!(parse_url("http://u:p@x/").is_err());
        assert!(parse_url("http://x:99999/").is_err());
    }
}
