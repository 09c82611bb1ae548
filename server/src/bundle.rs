//! The browser bundle under `/pkg`. The build names the wasm, its loader and the stylesheet
//! after a hash of their content (`wimdeck.<hash>.wasm`) and lists the hashes in
//! `hash.txt` beside `pkg/`; such files never change, so they are cached for a year and never
//! revalidated, while the HTML that names them is never cached (see
//! [`crate::http_layer::security_headers`]). Other files (the icon, an unhashed development
//! build) are revalidated on every use. Brotli and gzip copies made at build time are sent to
//! browsers that accept them, and conditional requests answer 304.

use std::path::{Path, PathBuf};

use axum::{
    Router,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::Response,
};
use tower_http::services::ServeDir;

/// The file that lists the hashes (`js: …`, `wasm: …`, `css: …`), in the site root.
pub const HASH_FILE: &str = "hash.txt";

/// How long a content-hashed file may be reused without asking: a year, the longest that
/// RFC 9111 caches are expected to honour.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The hashed names of the bundle's files, as the build recorded them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleNames {
    /// The path of the hash file, absolute (Leptos reads it to name the wasm and its loader).
    pub hash_file: PathBuf,
    pub css: String,
}

impl BundleNames {
    /// The names recorded under `site_root`, if the bundle there was built with hashes.
    pub fn read(site_root: &Path) -> Option<Self> {
        let hash_file = std::path::absolute(site_root.join(HASH_FILE)).ok()?;
        let text = std::fs::read_to_string(&hash_file).ok()?;
        let hash_of = |key: &str| {
            text.lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| is_hash(v))
        };
        // Leptos needs both of these; without them the page would name files that are not there.
        hash_of("js")?;
        hash_of("wasm")?;
        Some(Self {
            css: format!("{}.{}.css", crate::OUTPUT_NAME, hash_of("css")?),
            hash_file,
        })
    }
}

/// Whether a name part is a content hash as the build writes it (hex, at least 16 digits).
fn is_hash(part: &str) -> bool {
    part.len() >= 16 && part.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether a file name carries a content hash (`wimdeck.0123456789abcdef.wasm[.br]`).
fn is_hashed_name(name: &str) -> bool {
    name.split('.').any(is_hash)
}

/// The service for `/pkg/…`: the files of `site_root/pkg`, with their caching policy.
pub fn service(site_root: &Path) -> Router {
    let files = ServeDir::new(site_root.join("pkg"))
        .precompressed_br()
        .precompressed_gzip();
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(cache_policy))
}

async fn cache_policy(request: Request, next: Next) -> Response {
    let name = request
        .uri()
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut response = next.run(request).await;
    let status = response.status();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        let policy = if is_hashed_name(&name) {
            IMMUTABLE
        } else {
            "no-cache"
        };
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
        // The same name answers brotli, gzip or plain bytes: caches must key on the encoding.
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hashed_names_are_immutable() {
        assert!(is_hashed_name("wimdeck.0123456789abcdef.wasm"));
        assert!(is_hashed_name("wimdeck.0123456789abcdef.css"));
        assert!(!is_hashed_name("wimdeck.css"));
        assert!(!is_hashed_name("wimdeck_bg.wasm"));
        assert!(!is_hashed_name("favicon.svg"));
        // Long but not hex, or hex but short.
        assert!(!is_hashed_name("wimdeck.stylesheetsforall.css"));
        assert!(!is_hashed_name("wimdeck.0123abcd.css"));
    }

    #[test]
    fn names_are_read_from_the_hash_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(BundleNames::read(dir.path()), None, "no hash file");
        std::fs::write(
            dir.path().join(HASH_FILE),
            "js: 1111111111111111\nwasm: 2222222222222222\ncss: 3333333333333333\n",
        )
        .expect("write");
        let names = BundleNames::read(dir.path()).expect("names");
        assert_eq!(names.css, "wimdeck.3333333333333333.css");
        assert!(names.hash_file.is_absolute());
        std::fs::write(dir.path().join(HASH_FILE), "js: 1111111111111111\n").expect("write");
        assert_eq!(BundleNames::read(dir.path()), None, "incomplete");
    }
}
