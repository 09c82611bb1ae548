//! Where images may be read from: the configured source roots, and share paths mapped onto
//! them. Admins think in share paths (`\\deploy01\sources\winpe\boot.wim`); the server reads
//! local directories. Anything that resolves outside a root — through `..`, a symbolic link or
//! an unknown share — is refused.
//!
//! The roots are checked lexically first, before the file system is touched, and everything
//! outside them gets one answer: otherwise the difference between "does not exist" and
//! "outside the roots" tells a user which files exist anywhere on the server. Messages never
//! list the roots (they are the server's configuration, not the user's to learn).
//!
//! Uploads are not a root: a user's upload is named by its id (`upload:<id>`) and only its
//! owner may use it.

use std::path::{Component, Path, PathBuf};

use crate::{Error, Result, config::ImagesConfig};

/// How a source names one of the caller's uploads: `upload:<id>`.
pub const UPLOAD_PREFIX: &str = "upload:";

/// Resolves a path an admin typed (local, or a share path under a configured share) to the
/// canonical local path of an existing file inside a source root.
pub fn resolve(input: &str, config: &ImagesConfig) -> Result<PathBuf> {
    if input.trim().is_empty() {
        return Err(invalid("give the path of a WIM file"));
    }
    let canonical = resolve_inside(input, config, &[])?;
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
    resolve_inside(input, config, &[])
}

/// The one answer for any path outside the roots, whether or not it exists.
fn outside(input: &str) -> Error {
    invalid(format!(
        "{input} is outside the folders images may be read from; ask an administrator which they are (images.source_roots)"
    ))
}

/// `path` with `.` components and repeated separators dropped; `None` with `..` in it.
fn lexical(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => return None,
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

/// Whether `path` (lexically normal) lies inside one of the roots, as configured or as the
/// root's own canonical path (a root may be reached through a symbolic link).
fn lexically_inside(path: &Path, roots: &[PathBuf]) -> bool {
    roots.iter().any(|root| {
        let configured = lexical(root).is_some_and(|r| path.starts_with(r));
        configured || root.canonicalize().is_ok_and(|r| path.starts_with(r))
    })
}

fn resolve_inside(input: &str, config: &ImagesConfig, excluded: &[PathBuf]) -> Result<PathBuf> {
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
    let Some(local) = lexical(&local) else {
        return Err(invalid(format!("{input} contains '..'")));
    };
    // Before anything is opened or even looked up: outside the roots is outside.
    let refused = |path: &Path| {
        !lexically_inside(path, &config.source_roots) || lexically_inside(path, excluded)
    };
    if refused(&local) {
        return Err(outside(input));
    }
    let canonical = local.canonicalize().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => invalid(format!("{input} does not exist")),
        _ => invalid(format!("{input} cannot be read: {e}")),
    })?;
    // A symbolic link inside a root may point anywhere: the target must be inside too.
    let inside = config
        .source_roots
        .iter()
        .filter_map(|root| root.canonicalize().ok())
        .any(|root| canonical.starts_with(&root));
    if !inside || refused(&canonical) {
        return Err(outside(input));
    }
    Ok(canonical)
}

/// Resolves a source for an import that `owner` asked for (a user, or `None` for the local
/// administrator at the command line): a path under the source roots, or `upload:<id>` for
/// one of the owner's own complete uploads. The uploads folder is never a root, so another
/// user's upload is outside like any other path.
pub async fn resolve_for(
    domain: &crate::Domain,
    owner: Option<i64>,
    input: &str,
) -> Result<PathBuf> {
    if input.trim().is_empty() {
        return Err(invalid("give the path of a WIM file"));
    }
    let path = resolve_entry_for(domain, owner, input).await?;
    if !path.is_file() {
        return Err(invalid(format!("{} is not a file", input.trim())));
    }
    Ok(path)
}

/// [`resolve_for`] for a file or a folder (driver packages).
pub async fn resolve_entry_for(
    domain: &crate::Domain,
    owner: Option<i64>,
    input: &str,
) -> Result<PathBuf> {
    if let Some(id) = upload_id(input) {
        return own_upload(domain, owner, id).await;
    }
    if input.trim().is_empty() {
        return Err(invalid("give the path of a folder, a .zip or a .cab file"));
    }
    let uploads = [super::uploads::uploads_dir(domain.config())];
    resolve_inside(input, &domain.config().images, &uploads)
}

fn upload_id(input: &str) -> Option<&str> {
    input.trim().strip_prefix(UPLOAD_PREFIX).map(str::trim)
}

/// The path of `owner`'s complete upload `id`. Anyone else's, a missing one and an unfinished
/// one get the same answer.
async fn own_upload(domain: &crate::Domain, owner: Option<i64>, id: &str) -> Result<PathBuf> {
    let not_yours = || {
        invalid(format!(
            "{UPLOAD_PREFIX}{id} is not a complete upload of yours"
        ))
    };
    let owner = owner.ok_or_else(not_yours)?;
    let upload = super::uploads::find_own_complete(domain, owner, id)
        .await?
        .ok_or_else(not_yours)?;
    let path = upload.path;
    if !path.is_file() {
        return Err(not_yours());
    }
    Ok(path)
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
        return Err(invalid(format!(
            "\\\\{} is not a configured share; ask an administrator which shares images may be read from (images.shares)",
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
        let answer = message(resolve(outside.to_str().expect("utf-8"), &s.config));
        assert!(answer.contains("outside the folders"), "{answer}");
        assert!(
            !answer.contains(s.root.to_str().expect("utf-8")),
            "lists the roots: {answer}"
        );
        // Outside the roots, a file that exists and one that does not get the same answer.
        for (existing, missing) in [
            ("/etc/passwd", "/etc/does-not-exist"),
            (outside.to_str().expect("utf-8"), "/nonexistent/other.wim"),
        ] {
            assert_eq!(
                message(resolve(existing, &s.config)).replace(existing, "X"),
                message(resolve(missing, &s.config)).replace(missing, "X"),
            );
        }
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
        assert!(
            !message(resolve(r"\\fileserver\public\boot.wim", &s.config)).contains("deploy01"),
            "lists the shares"
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
