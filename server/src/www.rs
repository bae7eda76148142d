//! The www dashboard's files (`www/dist`, built by `scripts/build-www`),
//! read into memory once when the member starts and served at `/` on the
//! member's port.
//!
//! Only files found under the directory at start-up are served, by exact
//! path: a request names a key in a map, never a path on disk, so there is
//! nothing to traverse. The directory is bounded ([`WWW_FILES_MAX`],
//! [`WWW_BYTES_MAX`]) so a wrong `--www` cannot fill memory.
//!
//! A file with a gzipped copy next to it (`raftcp_wasm_bg.wasm.gz`, made
//! by `scripts/build-www`) is sent as that copy to browsers that accept
//! gzip: the client's wasm is a fifth of its size gzipped.

use crate::limits::{WWW_BYTES_MAX, WWW_DEPTH_MAX, WWW_FILES_MAX};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A file to send: its content type and bytes.
#[derive(Debug)]
pub struct Asset {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    /// Its gzipped copy, when the directory has one.
    pub gzipped: Option<Vec<u8>>,
}

/// The dashboard's files by URL path (`/index.html`, `/raftcp/browser.js`).
#[derive(Debug, Default)]
pub struct Assets {
    files: HashMap<String, Asset>,
}

#[derive(Debug, thiserror::Error)]
pub enum AssetsError {
    #[error("{0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0} has no index.html: build it with scripts/build-www")]
    NoIndex(PathBuf),
    #[error("{0} holds more than {WWW_FILES_MAX} files or {WWW_BYTES_MAX} bytes")]
    TooLarge(PathBuf),
}

impl Assets {
    /// Reads every file under `dir` (symbolic links are not followed).
    pub fn load(dir: &Path) -> Result<Self, AssetsError> {
        let mut assets = Assets::default();
        let mut bytes_total = 0usize;
        let mut pending = vec![(dir.to_path_buf(), String::new(), 0usize)];
        while let Some((path, url, depth)) = pending.pop() {
            let read_error = |e| AssetsError::Read(path.clone(), e);
            for entry in std::fs::read_dir(&path).map_err(read_error)? {
                let entry = entry.map_err(read_error)?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue; // Not a name a URL can carry.
                };
                let file_type = entry.file_type().map_err(read_error)?;
                let url = format!("{url}/{name}");
                if file_type.is_dir() && depth < WWW_DEPTH_MAX {
                    pending.push((entry.path(), url, depth + 1));
                } else if file_type.is_file() {
                    let bytes = std::fs::read(entry.path()).map_err(read_error)?;
                    bytes_total = bytes_total.saturating_add(bytes.len());
                    if assets.files.len() >= WWW_FILES_MAX || bytes_total > WWW_BYTES_MAX {
                        return Err(AssetsError::TooLarge(dir.to_path_buf()));
                    }
                    let content_type = content_type(&name);
                    let asset = Asset {
                        content_type,
                        bytes,
                        gzipped: None,
                    };
                    assets.files.insert(url, asset);
                }
            }
        }
        assets.pair_gzipped_copies();
        match assets.files.contains_key("/index.html") {
            true => Ok(assets),
            false => Err(AssetsError::NoIndex(dir.to_path_buf())),
        }
    }

    /// Moves each `X.gz` into `X`'s asset (a `.gz` alone stays a file).
    fn pair_gzipped_copies(&mut self) {
        let copies: Vec<String> = self
            .files
            .keys()
            .filter_map(|url| url.strip_suffix(".gz"))
            .filter(|original| self.files.contains_key(*original))
            .map(str::to_owned)
            .collect();
        for original in copies {
            let copy = self.files.remove(&format!("{original}.gz"));
            if let (Some(copy), Some(asset)) = (copy, self.files.get_mut(&original)) {
                asset.gzipped = Some(copy.bytes);
            }
        }
    }

    /// The file a GET of `path` answers with (`/` is `/index.html`).
    pub fn get(&self, path: &str) -> Option<&Asset> {
        let path = if path == "/" { "/index.html" } else { path };
        self.files.get(path)
    }
}

/// By extension; what the dashboard is made of, and nothing to sniff.
fn content_type(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map_or("", |(_, e)| e);
    match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        // Browsers compile a module as it streams in only with this type.
        "wasm" => "application/wasm",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "ts" | "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// What `/` shows when the member was started without the dashboard.
pub const NOT_BUILT_PAGE: &str = "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\"><title>raftcp</title></head>
<body><main><h1>raftcp</h1>
<p>This member is running, but it was started without its dashboard.</p>
<p>Build the dashboard with <code>scripts/build-www</code>, then start the
member with <code>--www www/dist</code> (<code>raftcp dev</code> finds
<code>www/dist</code> by itself when run from the repository). Or run
<code>scripts/dev</code>, which does both.</p>
<p>Clients connect to <code>/v1/client</code>; <a href=\"/health\">/health</a>
and <a href=\"/metrics\">/metrics</a> are served here too.</p>
</main></body></html>
";

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory of this process for one test.
    fn scratch(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("raftcp-www-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn serves_the_files_found_at_start_by_exact_path_only() {
        let dir = scratch("exact");
        std::fs::create_dir(dir.join("raftcp")).unwrap();
        std::fs::write(dir.join("index.html"), "<p>hi</p>").unwrap();
        std::fs::write(dir.join("raftcp/raftcp_wasm_bg.wasm"), b"\0asm").unwrap();
        std::fs::write(dir.join("raftcp/raftcp_wasm_bg.wasm.gz"), b"gz").unwrap();
        let assets = Assets::load(&dir).unwrap();
        assert_eq!(assets.get("/").unwrap().bytes, b"<p>hi</p>");
        assert_eq!(assets.get("/").unwrap().gzipped, None);
        let wasm = assets.get("/raftcp/raftcp_wasm_bg.wasm").unwrap();
        assert_eq!(wasm.content_type, "application/wasm");
        assert_eq!(wasm.gzipped.as_deref(), Some(&b"gz"[..]));
        assert!(assets.get("/raftcp/raftcp_wasm_bg.wasm.gz").is_none());
        for outside in [
            "/../index.html",
            "/raftcp/../index.html",
            "//index.html",
            "index.html",
        ] {
            assert!(assets.get(outside).is_none(), "{outside}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_directory_without_an_index_is_refused() {
        let dir = scratch("no-index");
        std::fs::write(dir.join("app.js"), "").unwrap();
        assert!(matches!(Assets::load(&dir), Err(AssetsError::NoIndex(_))));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
