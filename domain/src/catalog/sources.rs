//! Where images may be read from: the configured source roots, and share paths mapped onto
//! them. Admins think in share paths (`\\deploy01\sources\winpe\boot.wim`); the server reads
//! local directories. Anything that resolves outside a root — through `..`, a symbolic link or
//! an unknown share — is refused before any file is opened.

use std::path::{Component, Path, PathBuf};

use crate::{Error, Result, config::ImagesConfig};

/// Resolves a path an admin typed (local, or a share path under a configured share) to the
/// canonical local path of an existing file inside a source root.
pub fn resolve(input: &str, config: &ImagesConfig) -> Result<PathBuf> {
    if input.trim().is_empty() {
        return Err(invalid("give the path of a WIM file"));
    }
    let canonical = resolve_inside(input, config)?;
    if !canonical.is_file() {
        return Err(invalid(format!("{} is not a file", input.trim())));
    }
    Ok(canonical)
}

/// [`resolve`] for a file or a folder (driver packages come as either).
pub fn resolve_entry(input: &str, config: &ImagesConfig) -> Result<PathBuf> {
    if input.trim().is_empty() {
        return Err(invalid("give the path of a folder, a .zip or a .cab file"));
    }
    resolve_inside(input, config)
}

fn resolve_inside(input: &str, config: &ImagesConfig) -> Result<PathBuf> {
    let input = input.trim();
    if input.contains('\0') {
        return Err(invalid("the path contains a NUL character"));
    }
    let local = if input.starts_with(r"\\") || input.starts_with("//") {
        map_share(input, config)?
    } else {
        PathBuf::from(input)
    };
    if !local.is_absolute() {
        return Err(invalid(format!(
            "{input} is not an absolute path; give /path/to/file.wim or \\\\server\\share\\file.wim"
        )));
    }
    if local.components().any(|c| c == Component::ParentDir) {
        return Err(invalid(format!("{input} contains '..'")));
    }
    let canonical = local.canonicalize().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => invalid(format!("{input} does not exist")),
        _ => invalid(format!("{input} cannot be read: {e}")),
    })?;
    let inside = config
        .source_roots
        .iter()
        .filter_map(|root| root.canonicalize().ok())
        .any(|root| canonical.starts_with(&root));
    if !inside {
        return Err(invalid(format!(
            "{input} is outside the image source roots ({}); ask an administrator to add its folder to images.source_roots",
            config
                .source_roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(canonical)
}

/// [`resolve`] with the uploads folder as one more root: uploaded files import like the rest.
pub fn resolve_for(domain: &crate::Domain, input: &str) -> Result<PathBuf> {
    resolve(input, &with_uploads(domain))
}

/// [`resolve_entry`] with the uploads folder as one more root.
pub fn resolve_entry_for(domain: &crate::Domain, input: &str) -> Result<PathBuf> {
    resolve_entry(input, &with_uploads(domain))
}

fn with_uploads(domain: &crate::Domain) -> ImagesConfig {
    let mut images = domain.config().images.clone();
    images
        .source_roots
        .push(super::uploads::uploads_dir(domain.config()));
    images
}

/// `\\server\share\rest` → the mapped directory joined with `rest`, matching the longest
/// configured share prefix, case-insensitively as Windows does.
fn map_share(input: &str, config: &ImagesConfig) -> Result<PathBuf> {
    let normalized = input.replace('/', "\\");
    // (length of the matched prefix in `normalized`, local directory)
    let mut best: Option<(usize, &Path)> = None;
    for (share, dir) in &config.shares {
        let prefix = share.replace('/', "\\");
        let prefix = prefix.trim_end_matches('\\');
        let head = normalized.get(..prefix.len());
        let tail = normalized.get(prefix.len()..);
        let matches = head.is_some_and(|h| h.eq_ignore_ascii_case(prefix))
            && tail.is_some_and(|t| t.is_empty() || t.starts_with('\\'));
        if matches && best.is_none_or(|(len, _)| prefix.len() > len) {
            best = Some((prefix.len(), dir.as_path()));
        }
    }
    let Some((len, dir)) = best else {
        let share: Vec<&str> = normalized
            .trim_start_matches('\\')
            .splitn(3, '\\')
            .take(2)
            .collect();
        let configured = if config.shares.is_empty() {
            "none".to_owned()
        } else {
            config.shares.keys().cloned().collect::<Vec<_>>().join(", ")
        };
        return Err(invalid(format!(
            "\\\\{} is not a configured share; configured: {configured}",
            share.join("\\")
        )));
    };
    let rest = normalized.get(len..).unwrap_or_default();
    Ok(rest
        .split('\\')
        .filter(|p| !p.is_empty())
        .fold(dir.to_path_buf(), |path, part| path.join(part)))
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid("path", message)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    struct Setup {
        _dir: tempfile::TempDir,
        root: PathBuf,
        outside: PathBuf,
        config: ImagesConfig,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("sources");
        let outside = dir.path().join("secret");
        std::fs::create_dir_all(root.join("WinPE/x64")).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::fs::write(root.join("WinPE/x64/boot.wim"), b"MSWIM").expect("write");
        std::fs::write(outside.join("other.wim"), b"MSWIM").expect("write");
        let mut shares = BTreeMap::new();
        shares.insert(r"\\deploy01\sources".to_owned(), root.clone());
        shares.insert(r"\\deploy01\sources\WinPE".to_owned(), root.join("WinPE"));
        let config = ImagesConfig {
            source_roots: vec![root.clone()],
            shares,
            ..ImagesConfig::default()
        };
        Setup {
            _dir: dir,
            root,
            outside,
            config,
        }
    }

    fn message(result: Result<PathBuf>) -> String {
        result.expect_err("must be refused").to_string()
    }

    #[test]
    fn local_and_share_paths_resolve_inside_the_roots() {
        let s = setup();
        let expected = s
            .root
            .join("WinPE/x64/boot.wim")
            .canonicalize()
            .expect("canonical");
        assert_eq!(
            resolve(expected.to_str().expect("utf-8"), &s.config).expect("local"),
            expected
        );
        assert_eq!(
            resolve(r"\\deploy01\sources\WinPE\x64\boot.wim", &s.config).expect("share"),
            expected
        );
        // The share prefix matches case-insensitively (here the longer share, `…\WinPE`);
        // below it, names are the server's own and stay case-sensitive.
        assert_eq!(
            resolve(r"\\DEPLOY01\Sources\winpe\x64\boot.wim", &s.config).expect("longest share"),
            expected
        );
        assert!(
            message(resolve(r"\\deploy01\sources\WinPE\X64\boot.wim", &s.config))
                .contains("does not exist")
        );
        assert_eq!(
            resolve(r"\\DEPLOY01\Sources\WinPE\x64\boot.wim", &s.config)
                .expect("case-insensitive share"),
            expected
        );
        assert_eq!(
            resolve("//deploy01/sources/WinPE/x64/boot.wim", &s.config).expect("forward slashes"),
            expected
        );
    }

    #[test]
    fn escapes_and_unknown_places_are_refused() {
        let s = setup();
        let outside = s.outside.join("other.wim");
        assert!(
            message(resolve(outside.to_str().expect("utf-8"), &s.config))
                .contains("outside the image source roots")
        );
        let climbing = format!("{}/../secret/other.wim", s.root.display());
        assert!(message(resolve(&climbing, &s.config)).contains("'..'"));
        assert!(
            message(resolve(
                r"\\deploy01\sources\..\secret\other.wim",
                &s.config
            ))
            .contains("'..'")
        );
        std::os::unix::fs::symlink(&outside, s.root.join("link.wim")).expect("symlink");
        assert!(
            message(resolve(
                s.root.join("link.wim").to_str().expect("utf-8"),
                &s.config
            ))
            .contains("outside")
        );
        assert!(
            message(resolve(r"\\fileserver\public\boot.wim", &s.config))
                .contains(r"\\fileserver\public is not a configured share")
        );
        assert!(message(resolve("WinPE/x64/boot.wim", &s.config)).contains("not an absolute path"));
        assert!(
            message(resolve(
                s.root.join("missing.wim").to_str().expect("utf-8"),
                &s.config
            ))
            .contains("does not exist")
        );
        assert!(
            message(resolve(
                s.root.join("WinPE").to_str().expect("utf-8"),
                &s.config
            ))
            .contains("not a file")
        );
        assert!(message(resolve("", &s.config)).contains("give the path"));
        // Non-ASCII input never panics, whatever the byte lengths.
        assert!(resolve(r"\\déploy01\sources\x.wim", &s.config).is_err());
        assert!(resolve(r"\\deploy01\sourcés\x.wim", &s.config).is_err());
    }
}
