//! # bootbox-images — the LINBO image tree on disk
//!
//! Images live where LINBO clients expect them:
//!
//! ```text
//! <linbo>/images/<base>/<base>.qcow2            current full image
//! <linbo>/images/<base>/<base>.qdiff            current differential image
//! <linbo>/images/<base>/<file>.{info,desc,torrent,hash}   companions
//! <linbo>/images/<base>/<base>.{reg,postsync,prestart}    scripts
//! <linbo>/images/<base>/backups/<timestamp>/…   earlier versions
//! <linbo>/images/tmp/                           staging (uploads, journal)
//! <linbo>/multicast.list                        regenerated on every change
//! ```
//!
//! Rules kept by this crate:
//! - **Complete or not at all.** Uploads are written to `images/tmp/`,
//!   hashed while streaming, checked (size, SHA-256, free space before
//!   accepting) and only then promoted by renames. A promotion first
//!   writes a journal; [`ImageTree::recover`] (run at start-up) finishes or
//!   rolls back an interrupted one, and removes stale partial uploads.
//! - **Nothing is lost.** The version being replaced moves to
//!   `backups/<its timestamp>/` with its companions; restoring swaps back.
//! - **Names are checked** before they touch a path.

mod companions;
mod error;
pub mod linuxmuster;
mod names;
mod tree;
mod upload;

pub use companions::{multicast_list, render_info, timestamp_now};
pub use error::{ImageError, Result};
pub use names::{check_base, check_image_file, ImageFile, ImageKind};
pub use tree::{groups_using, ImageTree, Promoted, PORTBASE};
pub use upload::{free_space, hex, Finished, StagedUpload, UploadLimits};
