//! `POST /api/v1/import/linuxmuster`: import an uploaded linuxmuster.net
//! export (`.tar.gz` of `devices.csv`, `start.conf.<group>` files, and
//! optionally GRUB menus `boot/grub/[hostcfg/]*.cfg` and on-boot files
//! `linbocmd/*.cmd`, taken over like `bootbox import linuxmuster` does).
//!
//! The archive is unpacked by [`bootbox_images::linuxmuster::unpack_export`]
//! (unsafe member names reject it, only the two kinds of file are taken)
//! into a private temporary folder, read by
//! [`bootbox_images::linuxmuster::read`] — the code behind `bootbox import
//! linuxmuster` — and planned or applied as one import batch.
//!
//! Query: `dry_run=true|false` (default true), `strategy=update|replace|add-only`.

use std::path::{Path, PathBuf};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use bootbox_images::linuxmuster::{self, ExportError, ARCHIVE_MAX};
use bootbox_store::tokens::Scope;
use bootbox_store::{ImportBatch, MergeStrategy};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{random_hex, require};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// Route of the export upload (with a body limit fitting [`ARCHIVE_MAX`]).
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/import/linuxmuster",
        post(import).layer(DefaultBodyLimit::max(ARCHIVE_MAX + 1024)),
    )
}

#[derive(Debug, Deserialize)]
struct ImportQuery {
    #[serde(default)]
    dry_run: Option<bool>,
    #[serde(default)]
    strategy: Option<String>,
}

/// A private temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> ApiResult<Self> {
        let p = std::env::temp_dir().join(format!("bootbox-lm-{}", random_hex(12)?));
        std::fs::create_dir(&p).map_err(ApiError::internal)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700))
                .map_err(ApiError::internal)?;
        }
        Ok(Self(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Shows paths relative to the archive root.
fn rel(dir: &Path, s: &str) -> String {
    s.replace(&format!("{}/", dir.display()), "")
}

fn export_error(dir: &Path, e: ExportError) -> ApiError {
    match e {
        ExportError::Devices { file, errors } => {
            let f = rel(dir, &file.display().to_string());
            let list: Vec<Value> = errors
                .iter()
                .map(|l| json!({ "file": f, "line": l.line, "message": l.message }))
                .collect();
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_csv",
                format!(
                    "{f}: {} line(s) have errors; nothing was imported",
                    list.len()
                ),
            )
            .with_details(json!({ "errors": list }))
        }
        ExportError::StartConfs(problems) => {
            let list: Vec<String> = problems.iter().map(|p| rel(dir, p)).collect();
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_startconf",
                format!(
                    "{} problem(s) in start.conf files; nothing was imported",
                    list.len()
                ),
            )
            .with_details(json!({ "problems": list }))
        }
        ExportError::Archive(m) => ApiError::new(StatusCode::BAD_REQUEST, "bad_archive", m),
        ExportError::Unsafe(m) => ApiError::new(StatusCode::BAD_REQUEST, "bad_archive", m),
        e @ (ExportError::Io { .. } | ExportError::NotADirectory(_)) => ApiError::internal(e),
    }
}

async fn import(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    let strategy: MergeStrategy = match q.strategy.as_deref() {
        None | Some("") => MergeStrategy::Update,
        Some(s) => s
            .parse()
            .map_err(|e: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e))?,
    };
    let dry = q.dry_run.unwrap_or(true);
    let store = st.store.clone();
    let linbo = st.images.as_ref().map(|i| i.tree.linbo().to_path_buf());
    let who = actor.audit();
    tokio::task::spawn_blocking(move || -> ApiResult {
        let tmp = TempDir::new()?;
        let notes = linuxmuster::unpack_export(&body, &tmp.0).map_err(|e| export_error(&tmp.0, e))?;
        let ex = linuxmuster::read(&tmp.0).map_err(|e| export_error(&tmp.0, e))?;
        let batch = ImportBatch {
            devices: ex.devices.clone(),
            strategy,
            groups: ex.groups.clone(),
            images: Vec::new(),
        };
        let plan = store.plan_import(&batch).map_err(crate::api::store_error)?;
        if !plan.conflicts.is_empty() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "import_conflicts",
                format!(
                    "{} conflict(s) with the registry; nothing was changed",
                    plan.conflicts.len()
                ),
            )
            .with_details(json!({ "conflicts": plan.conflicts })));
        }
        // GRUB customisations and on-boot files, as `bootbox import
        // linuxmuster` takes them over (needs the LINBO tree).
        let file_plan: Vec<Value> = match &linbo {
            Some(l) => linuxmuster::file_plan(&ex, l)
                .into_iter()
                .map(|(f, a)| json!({ "path": f.rel, "kind": f.kind.label(), "action": format!("{a:?}").to_lowercase() }))
                .collect(),
            None => Vec::new(),
        };
        let mut notes = notes;
        if !dry {
            if let Some(l) = &linbo {
                notes.extend(linuxmuster::copy_files(&ex, l).map_err(|e| export_error(&tmp.0, e))?);
            }
        }
        let applied = if dry || plan.is_noop() {
            plan
        } else {
            store
                .apply_import(&batch, &who)
                .map_err(crate::api::store_error)?
        };
        let brief = |h: &bootbox_linbo::devices::DeviceRecord| {
            json!({ "hostname": h.hostname, "room": h.room, "group": h.group, "mac": h.mac.to_string(), "ip": h.ip.to_string() })
        };
        Ok(Json(json!({
            "dry_run": dry,
            "applied": !dry && !applied.is_noop(),
            "summary": applied.summary(),
            "devices_csv": ex.devices_file.as_ref().map(|f| rel(&tmp.0, &f.display().to_string())),
            "start_confs": ex.groups.iter().map(|g| g.name.clone()).collect::<Vec<_>>(),
            "added": applied.hosts_added.iter().map(brief).collect::<Vec<_>>(),
            "updated": applied.hosts_updated.iter().map(|(_, n)| brief(n)).collect::<Vec<_>>(),
            "removed": applied.hosts_removed.iter().map(brief).collect::<Vec<_>>(),
            "unchanged": applied.hosts_unchanged,
            "rooms_new": applied.rooms_new,
            "groups_new": applied.groups_new.iter().map(|g| g.name.clone()).collect::<Vec<_>>(),
            "groups_changed": applied.groups_changed.iter().map(|(_, g)| g.name.clone()).collect::<Vec<_>>(),
            "files": file_plan,
            "not_taken": ex.not_taken.iter().map(|n| rel(&tmp.0, n)).collect::<Vec<_>>(),
            "warnings": ex.warnings.iter().map(|w| rel(&tmp.0, w)).collect::<Vec<_>>(),
            "notes": notes,
        }))
        .into_response())
    })
    .await
    .map_err(ApiError::internal)?
}
