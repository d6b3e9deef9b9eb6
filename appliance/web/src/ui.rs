//! The browser UI: one small HTML shell per page plus one script and one
//! style sheet, all embedded from `webui/` at build time. The script draws
//! each page from the REST API; texts come in German and English.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | to `/setup` before the first admin exists, else `/dashboard` or `/login` |
//! | `GET /setup`, `/login` | wizard and sign-in |
//! | `GET /dashboard`, `/hosts`, `/import`, `/rooms`, `/groups`, `/images`, `/events`, `/settings` | pages (signed in) |
//! | `GET /remote` | remote control (`webui/remote.js`) |
//! | `GET /ui/app.js`, `/ui/app.css`, `/ui/remote.js` | assets |

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::auth;
use crate::AppState;

const SHELL: &str = include_str!("../../../webui/index.html");
const APP_JS: &str = include_str!("../../../webui/app.js");
const APP_CSS: &str = include_str!("../../../webui/app.css");
const REMOTE_JS: &str = include_str!("../../../webui/remote.js");

/// Pages that need a signed-in admin.
pub const PAGES: &[&str] = &[
    "dashboard",
    "hosts",
    "import",
    "rooms",
    "groups",
    "images",
    "events",
    "settings",
    "remote",
];

/// The UI routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/setup", get(setup_page))
        .route("/login", get(login_page))
        .route("/ui/app.js", get(app_js))
        .route("/ui/app.css", get(app_css))
        .route("/ui/remote.js", get(remote_js))
        .route("/{page}", get(page))
}

/// The UI language: the `lang` cookie, else German when the browser
/// prefers it (or lists it before English), else English.
pub fn language(headers: &HeaderMap) -> &'static str {
    match auth::cookie(headers, "lang").as_deref() {
        Some("de") => return "de",
        Some("en") => return "en",
        _ => {}
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let pos = |l: &str| {
        accept.split(',').position(|p| {
            p.trim()
                .split(';')
                .next()
                .is_some_and(|t| t == l || t.starts_with(&format!("{l}-")))
        })
    };
    match (pos("de"), pos("en")) {
        (Some(d), Some(e)) if d < e => "de",
        (Some(_), None) => "de",
        _ => "en",
    }
}

fn secure_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    resp
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn shell(headers: &HeaderMap, page: &str, user: &str, csrf: &str, school: &str) -> Response {
    let html = SHELL
        .replace("{{lang}}", language(headers))
        .replace("{{page}}", page)
        .replace("{{user}}", &esc(user))
        .replace("{{csrf}}", &esc(csrf))
        .replace("{{school}}", &esc(school));
    let resp = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response();
    secure_headers(resp)
}

async fn root(State(st): State<AppState>, headers: HeaderMap) -> Response {
    match st.store.has_admin() {
        Ok(false) => Redirect::to("/setup").into_response(),
        Ok(true) if auth::session_of(&st, &headers).is_some() => {
            Redirect::to("/dashboard").into_response()
        }
        Ok(true) => Redirect::to("/login").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

fn school(st: &AppState) -> String {
    st.store
        .settings()
        .map(|s| s.school_name)
        .unwrap_or_default()
}

async fn setup_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let admin = st.store.has_admin().unwrap_or(true);
    match auth::session_of(&st, &headers) {
        Some((_, s)) => shell(&headers, "setup", &s.user, &s.csrf, &school(&st)),
        None if !admin => shell(&headers, "setup", "", "", ""),
        None => Redirect::to("/login").into_response(),
    }
}

async fn login_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if !st.store.has_admin().unwrap_or(true) {
        return Redirect::to("/setup").into_response();
    }
    shell(&headers, "login", "", "", &school(&st))
}

async fn page(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(page): Path<String>,
) -> Response {
    if !PAGES.contains(&page.as_str()) {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    match auth::session_of(&st, &headers) {
        Some((_, s)) => shell(&headers, &page, &s.user, &s.csrf, &school(&st)),
        None => Redirect::to("/login").into_response(),
    }
}

async fn app_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        APP_JS,
    )
        .into_response()
}

async fn remote_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        REMOTE_JS,
    )
        .into_response()
}

async fn app_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        APP_CSS,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn german_when_asked() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_LANGUAGE,
            "de-DE,de;q=0.9,en;q=0.8".parse().expect("hv"),
        );
        assert_eq!(language(&h), "de");
        h.insert(
            header::ACCEPT_LANGUAGE,
            "en-US,en;q=0.9,de;q=0.5".parse().expect("hv"),
        );
        assert_eq!(language(&h), "en");
        h.insert(header::COOKIE, "lang=de".parse().expect("hv"));
        assert_eq!(language(&h), "de");
        assert_eq!(language(&HeaderMap::new()), "en");
    }
}
