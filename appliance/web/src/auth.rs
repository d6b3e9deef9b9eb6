//! Sign-in, sessions, CSRF and login throttling for the web UI and API.
//!
//! * Sessions are kept in memory and, with [`Auth::with_store`], in the
//!   registry under the SHA-256 of their id, so a restart signs nobody
//!   out; the idle limit counts across restarts. The cookie `bbx_session`
//!   is `HttpOnly; SameSite=Strict; Path=/` and gets `Secure` on HTTPS.
//! * Every mutating request with a session must carry the session's CSRF
//!   token in the `X-CSRF-Token` header. API tokens (`Authorization:
//!   Bearer bbx.…`) need no CSRF token: browsers never send them by
//!   themselves.
//! * After [`MAX_FAILURES`] failed sign-ins for one user name or one client
//!   address, further attempts are refused for a growing lock-out time.
//! * The client address is put into the `x-bootbox-peer` header by
//!   [`peer_header`] (any such header from the client is dropped), so every
//!   audit entry says from where an action came.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use bootbox_store::sessions::WebSession;
use bootbox_store::tokens::Scope;
use bootbox_store::Store;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// Cookie name of the session.
pub const SESSION_COOKIE: &str = "bbx_session";
/// Header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Internal header with the client address.
pub const PEER_HEADER: &str = "x-bootbox-peer";
/// Failed sign-ins before a lock-out.
pub const MAX_FAILURES: u32 = 5;
/// First lock-out; doubles with every further lock-out, up to 15 minutes.
pub const LOCKOUT: Duration = Duration::from_secs(60);
/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(8 * 3600);

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// Account name.
    pub user: String,
    /// CSRF token of this session.
    pub csrf: String,
    /// Last request.
    pub last_seen: Instant,
}

#[derive(Debug, Default, Clone)]
struct Failures {
    count: u32,
    lockouts: u32,
    locked_until: Option<Instant>,
}

/// How often a session's last request is written to the registry.
const PERSIST_EVERY: Duration = Duration::from_secs(60);

/// Sessions and sign-in throttling, shared by all handlers.
#[derive(Default)]
pub struct Auth {
    sessions: Mutex<HashMap<String, Session>>,
    /// When each session's `last_seen` was last written to the store.
    persisted: Mutex<HashMap<String, Instant>>,
    failures: Mutex<HashMap<String, Failures>>,
    /// True when the UI is served over HTTPS (adds `Secure` to cookies).
    pub secure_cookies: bool,
    store: Option<Arc<Store>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("sessions", &lock(&self.sessions).len())
            .field("persistent", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

/// Store key of a session id: SHA-256, hex.
pub fn session_key(id: &str) -> String {
    Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn now_ms() -> u64 {
    bootbox_store::model::now_ms()
}

fn idle_ms() -> u64 {
    u64::try_from(IDLE.as_millis()).unwrap_or(u64::MAX)
}

/// Who did something and from where, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `web:<user>` or `token:<name>`.
    pub who: String,
    /// Client address, `unknown` when not known.
    pub from: String,
}

impl Actor {
    /// The audit log's actor field: `web:admin@10.0.0.7`.
    pub fn audit(&self) -> String {
        format!("{}@{}", self.who, self.from)
    }
}

/// Random hex string of `n` bytes.
pub fn random_hex(n: usize) -> ApiResult<String> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(ApiError::internal)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Auth {
    /// Sessions kept in `store` too (they survive a restart).
    pub fn with_store(store: Arc<Store>) -> Self {
        Self {
            store: Some(store),
            ..Self::default()
        }
    }

    fn persist(&self, id: &str, s: &Session, created_ms: Option<u64>) {
        let Some(store) = &self.store else { return };
        let key = session_key(id);
        let now = now_ms();
        let created = created_ms
            .or_else(|| store.web_session(&key).ok().flatten().map(|w| w.created_ms))
            .unwrap_or(now);
        let w = WebSession {
            user: s.user.clone(),
            csrf: s.csrf.clone(),
            created_ms: created,
            last_seen_ms: now,
        };
        if let Err(e) = store.put_web_session(&key, &w) {
            tracing::warn!(error = %e, "cannot store the session; it ends with this process");
        }
        lock(&self.persisted).insert(id.to_string(), Instant::now());
    }

    /// A session from the store, if it is there and not idle too long.
    fn load(&self, id: &str) -> Option<Session> {
        let store = self.store.as_ref()?;
        let key = session_key(id);
        let w = store.web_session(&key).ok().flatten()?;
        let age = now_ms().saturating_sub(w.last_seen_ms);
        if age >= idle_ms() {
            let _ = store.remove_web_sessions(|k, _| k == key);
            return None;
        }
        let last_seen = Instant::now()
            .checked_sub(Duration::from_millis(age))
            .unwrap_or_else(Instant::now);
        lock(&self.persisted).insert(id.to_string(), last_seen);
        Some(Session {
            user: w.user,
            csrf: w.csrf,
            last_seen,
        })
    }

    fn forget(&self, ids: &[String]) {
        let mut p = lock(&self.persisted);
        for id in ids {
            p.remove(id);
        }
        drop(p);
        if let Some(store) = &self.store {
            let keys: Vec<String> = ids.iter().map(|i| session_key(i)).collect();
            let _ = store.remove_web_sessions(|k, _| keys.iter().any(|x| x == k));
        }
    }

    /// Creates a session for `user`; returns (session id, CSRF token).
    pub fn create_session(&self, user: &str) -> ApiResult<(String, String)> {
        let id = random_hex(32)?;
        let csrf = random_hex(24)?;
        let session = Session {
            user: user.to_string(),
            csrf: csrf.clone(),
            last_seen: Instant::now(),
        };
        let expired: Vec<String> = {
            let mut s = lock(&self.sessions);
            let old: Vec<String> = s
                .iter()
                .filter(|(_, v)| v.last_seen.elapsed() >= IDLE)
                .map(|(k, _)| k.clone())
                .collect();
            s.retain(|_, v| v.last_seen.elapsed() < IDLE);
            s.insert(id.clone(), session.clone());
            old
        };
        self.forget(&expired);
        if let Some(store) = &self.store {
            // Sessions that went idle while nobody used them (also before a restart).
            let limit = now_ms().saturating_sub(idle_ms());
            let _ = store.remove_web_sessions(|_, w| w.last_seen_ms < limit);
        }
        self.persist(&id, &session, Some(now_ms()));
        Ok((id, csrf))
    }

    /// The live session with this id, refreshed.
    pub fn session(&self, id: &str) -> Option<Session> {
        let mut s = lock(&self.sessions);
        if !s.contains_key(id) {
            if let Some(loaded) = self.load(id) {
                s.insert(id.to_string(), loaded);
            }
        }
        let live = s.get(id).is_some_and(|v| v.last_seen.elapsed() < IDLE);
        if !live {
            let had = s.remove(id).is_some();
            drop(s);
            if had {
                self.forget(&[id.to_string()]);
            }
            return None;
        }
        let v = s.get_mut(id)?;
        v.last_seen = Instant::now();
        let v = v.clone();
        drop(s);
        let due = lock(&self.persisted)
            .get(id)
            .is_none_or(|t| t.elapsed() >= PERSIST_EVERY);
        if due {
            self.persist(id, &v, None);
        }
        Some(v)
    }

    /// True while the session exists and is not idle; does not count as
    /// activity (a live-update stream must not keep a session alive).
    pub fn is_live(&self, id: &str) -> bool {
        lock(&self.sessions)
            .get(id)
            .is_some_and(|v| v.last_seen.elapsed() < IDLE)
    }

    /// Ends one session.
    pub fn end_session(&self, id: &str) {
        lock(&self.sessions).remove(id);
        self.forget(&[id.to_string()]);
    }

    /// Ends every session of `user` (also those only in the store, from
    /// before a restart); returns how many.
    pub fn end_all(&self, user: &str) -> usize {
        let ended: Vec<String> = {
            let mut s = lock(&self.sessions);
            let ids: Vec<String> = s
                .iter()
                .filter(|(_, v)| v.user == user)
                .map(|(k, _)| k.clone())
                .collect();
            s.retain(|_, v| v.user != user);
            ids
        };
        let mut keys: std::collections::BTreeSet<String> =
            ended.iter().map(|i| session_key(i)).collect();
        {
            let mut p = lock(&self.persisted);
            for id in &ended {
                p.remove(id);
            }
        }
        if let Some(store) = &self.store {
            if let Ok(removed) = store.remove_web_sessions(|_, w| w.user == user) {
                keys.extend(removed);
            }
        }
        keys.len()
    }

    /// Seconds left of a lock-out for any of `keys`.
    pub fn locked_for(&self, keys: &[String]) -> Option<u64> {
        let f = lock(&self.failures);
        keys.iter()
            .filter_map(|k| f.get(k)?.locked_until)
            .filter_map(|t| t.checked_duration_since(Instant::now()))
            .map(|d| d.as_secs().max(1))
            .max()
    }

    /// Counts a failed sign-in for each key; locks keys that reach the limit.
    pub fn failed(&self, keys: &[String]) {
        let mut f = lock(&self.failures);
        if f.len() > 10_000 {
            f.retain(|_, v| v.locked_until.is_some());
        }
        for k in keys {
            let e = f.entry(k.clone()).or_default();
            if e.locked_until.is_some_and(|t| t <= Instant::now()) {
                e.locked_until = None;
            }
            e.count += 1;
            if e.count >= MAX_FAILURES {
                let factor = 1u32 << e.lockouts.min(4);
                e.locked_until = Some(Instant::now() + LOCKOUT * factor);
                e.lockouts += 1;
                e.count = 0;
            }
        }
    }

    /// Forgets failures after a successful sign-in.
    pub fn succeeded(&self, keys: &[String]) {
        let mut f = lock(&self.failures);
        for k in keys {
            f.remove(k);
        }
    }

    /// `Set-Cookie` value for a new session.
    pub fn cookie(&self, id: &str) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!(
            "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
            IDLE.as_secs()
        )
    }

    /// `Set-Cookie` value that deletes the session cookie.
    pub fn clear_cookie(&self) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}")
    }
}

/// Value of cookie `name` in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The client address set by [`peer_header`].
pub fn peer(headers: &HeaderMap) -> String {
    headers
        .get(PEER_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown")
        .to_string()
}

/// Middleware: replaces any `x-bootbox-peer` header by the real client address.
pub async fn peer_header(mut req: Request, next: Next) -> Response {
    let addr = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let h = req.headers_mut();
    h.remove(PEER_HEADER);
    if let Some(v) = addr.and_then(|a| HeaderValue::from_str(&a).ok()) {
        h.insert(PEER_HEADER, v);
    }
    next.run(req).await
}

/// The session of the request, if it has a live one.
pub fn session_of(st: &AppState, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = cookie(headers, SESSION_COOKIE)?;
    let s = st.auth.session(&id)?;
    Some((id, s))
}

fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "sign in or send an API token (Authorization: Bearer bbx.…)",
    )
}

/// Checks that the request may do what `needed` requires: an API token
/// with that scope, or a session (all scopes) — for `mutating` requests
/// with the session's CSRF token in `X-CSRF-Token`.
pub fn require(
    st: &AppState,
    headers: &HeaderMap,
    needed: Scope,
    mutating: bool,
) -> ApiResult<Actor> {
    let from = peer(headers);
    if let Some(text) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return match st.store.authenticate(text) {
            Ok(Some((name, scope))) if scope.allows(needed) => Ok(Actor {
                who: format!("token:{name}"),
                from,
            }),
            Ok(Some((name, _))) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("token {name} may not do this ({needed:?} needed)"),
            )),
            Ok(None) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "unknown or revoked API token",
            )),
            Err(e) => Err(ApiError::store(e)),
        };
    }
    let Some((_, s)) = session_of(st, headers) else {
        return Err(unauthorized());
    };
    if mutating {
        let sent = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct_eq(sent, &s.csrf) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "missing or wrong CSRF token; reload the page and try again",
            ));
        }
    }
    Ok(Actor {
        who: format!("web:{}", s.user),
        from,
    })
}

/// Shared handle type.
pub type SharedAuth = Arc<Auth>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_after_failures() {
        let a = Auth::default();
        let keys = vec!["user:admin".to_string()];
        for _ in 0..MAX_FAILURES - 1 {
            a.failed(&keys);
        }
        assert!(a.locked_for(&keys).is_none());
        a.failed(&keys);
        assert!(a.locked_for(&keys).is_some_and(|s| s >= 59));
    }

    #[test]
    fn sessions_end_everywhere() {
        let a = Auth::default();
        let (s1, _) = a.create_session("admin").expect("s");
        let (s2, _) = a.create_session("admin").expect("s");
        assert!(a.session(&s1).is_some());
        assert_eq!(a.end_all("admin"), 2);
        assert!(a.session(&s2).is_none());
        assert!(a.cookie("x").contains("HttpOnly; SameSite=Strict"));
    }
}
