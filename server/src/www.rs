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
    #[error("{0} holds more than {WWW_FILES_MAX} files")]
    TooManyFiles(PathBuf),
    #[error("{0} holds more than {WWW_BYTES_MAX} bytes (at {1})")]
    TooManyBytes(PathBuf, PathBuf),
    #[error("{0} is more than {WWW_DEPTH_MAX} directories deep")]
    TooDeep(PathBuf),
}

impl Assets {
    /// Reads every file under `dir`. Symbolic links and hidden entries
    /// (`.git`, `.env`, editors' swap files) are skipped: only what the
    /// build put there is served.
    pub fn load(dir: &Path) -> Result<Self, AssetsError> {
        let mut assets = Assets::default();
        let mut bytes_left = WWW_BYTES_MAX;
        let mut pending = vec![(dir.to_path_buf(), String::new(), 0usize)];
        while let Some((path, url, depth)) = pending.pop() {
            let read_error = |e| AssetsError::Read(path.clone(), e);
            for entry in std::fs::read_dir(&path).map_err(read_error)? {
                let entry = entry.map_err(read_error)?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue; // Not a name a URL can carry.
                };
                if name.starts_with('.') {
                    continue;
                }
                let file_type = entry.file_type().map_err(read_error)?;
                let url = format!("{url}/{name}");
                if file_type.is_dir() {
                    if depth >= WWW_DEPTH_MAX {
                        return Err(AssetsError::TooDeep(entry.path()));
                    }
                    pending.push((entry.path(), url, depth + 1));
                } else if file_type.is_file() {
                    if assets.files.len() >= WWW_FILES_MAX {
                        return Err(AssetsError::TooManyFiles(dir.to_path_buf()));
                    }
                    let bytes = read_bounded(&entry.path(), bytes_left)?
                        .ok_or_else(|| AssetsError::TooManyBytes(dir.into(), entry.path()))?;
                    bytes_left -= bytes.len();
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

/// The file at `path` if it has at most `limit` bytes (`None`: more),
/// read no further than the limit however it grows. A link swapped in
/// since the directory was listed is refused: the file opened must be the
/// entry itself.
fn read_bounded(path: &Path, limit: usize) -> Result<Option<Vec<u8>>, AssetsError> {
    use std::io::Read;
    let read_error = |e| AssetsError::Read(path.to_path_buf(), e);
    let file = std::fs::File::open(path).map_err(read_error)?;
    let opened = file.metadata().map_err(read_error)?;
    let entry = std::fs::symlink_metadata(path).map_err(read_error)?;
    if !entry.is_file() || !same_file(&opened, &entry) {
        let changed = std::io::Error::other("replaced while the dashboard was read");
        return Err(read_error(changed));
    }
    let mut bytes = Vec::new();
    let most = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    file.take(most)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    Ok((bytes.len() <= limit).then_some(bytes))
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.len() == b.len()
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
<p>In the repository, <code>scripts/dev</code> builds the dashboard and runs
<code>raftcp dev</code> with it. Elsewhere, build it with
<code>scripts/build-www</code> and start members with
<code>--www www/dist</code>.</p>
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
    fn hidden_entries_and_links_are_not_served() {
        let dir = scratch("hidden");
        std::fs::write(dir.join("index.html"), "").unwrap();
        std::fs::write(dir.join(".env"), "SECRET=1").unwrap();
        std::fs::create_dir(dir.join(".git")).unwrap();
        std::fs::write(dir.join(".git/config"), "").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc/hostname", dir.join("host")).unwrap();
        let assets = Assets::load(&dir).unwrap();
        for path in ["/.env", "/.git/config", "/host"] {
            assert!(assets.get(path).is_none(), "{path}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_directory_past_the_bounds_is_refused() {
        let dir = scratch("deep");
        std::fs::write(dir.join("index.html"), "").unwrap();
        let deep: PathBuf = (0..=WWW_DEPTH_MAX).map(|i| format!("d{i}")).collect();
        std::fs::create_dir_all(dir.join(deep)).unwrap();
        assert!(matches!(Assets::load(&dir), Err(AssetsError::TooDeep(_))));
        std::fs::remove_dir_all(dir).unwrap();

        let dir = scratch("many");
        for i in 0..=WWW_FILES_MAX {
            std::fs::write(dir.join(format!("{i}.js")), "").unwrap();
        }
        assert!(matches!(
            Assets::load(&dir),
            Err(AssetsError::TooManyFiles(_))
        ));
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
