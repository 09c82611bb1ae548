use std::path::PathBuf;

/// Why a WIM operation failed, in words an admin can act on.
#[derive(Debug, thiserror::Error)]
pub enum WimError {
    #[error("{} does not exist", .0.display())]
    NotFound(PathBuf),
    #[error("{} is not a WIM file (no WIM header)", .0.display())]
    NotAWim(PathBuf),
    #[error("{} is truncated: it ends before the data its header describes (an interrupted copy?)", .0.display())]
    Truncated(PathBuf),
    #[error("{} is damaged: {detail}", .path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("{} uses a WIM format version wimlib does not know", .0.display())]
    UnknownVersion(PathBuf),
    #[error("{} is part {part} of a split WIM with {total} parts; give the first part (.swm) with the others beside it", .path.display())]
    SplitPart {
        path: PathBuf,
        part: u16,
        total: u16,
    },
    #[error("{} is the first part of a split WIM with {total} parts, but {} missing; put every part beside it", .path.display(), missing_list(.missing))]
    SplitIncomplete {
        path: PathBuf,
        total: u16,
        missing: Vec<String>,
    },
    #[error("{} does not belong with {}: {detail}", .part.display(), .first.display())]
    SplitMismatch {
        first: PathBuf,
        part: PathBuf,
        detail: String,
    },
    #[error("cannot read {}: {detail}", .path.display())]
    Io { path: PathBuf, detail: String },
    #[error("{} already exists; Wimdeck never overwrites a file", .0.display())]
    OutputExists(PathBuf),
    #[error("image index {index} does not exist in {} (it has {count})", .path.display())]
    NoSuchImage {
        path: PathBuf,
        index: u32,
        count: u32,
    },
    #[error("{inside} does not exist in image {index} of {}", .path.display())]
    NoSuchPath {
        path: PathBuf,
        index: u32,
        inside: String,
    },
    #[error("the operation was cancelled")]
    Cancelled,
    #[error("WIM operation failed: {0}")]
    Internal(String),
}

fn missing_list(missing: &[String]) -> String {
    match missing {
        [one] => format!("{one} is"),
        many => format!("{} are", many.join(", ")),
    }
}

impl WimError {
    /// Maps a wimlib error met while working on `path`.
    pub(crate) fn from_wimlib(path: &std::path::Path, error: wimlib::Error) -> Self {
        use wimlib::Error as E;
        let path = path.to_path_buf();
        match error {
            E::NotAWimFile => WimError::NotAWim(path),
            E::UnexpectedEndOfFile => WimError::Truncated(path),
            E::UnknownVersion => WimError::UnknownVersion(path),
            E::InvalidHeader
            | E::InvalidIntegrityTable
            | E::InvalidLookupTableEntry
            | E::InvalidMetadataResource
            | E::MetadataNotFound
            | E::Decompression
            | E::InvalidResourceHash
            | E::InvalidChunkSize
            | E::InvalidCompressionType
            | E::ResourceNotFound
            | E::InvalidPartNumber
            | E::Xml
            | E::Integrity => WimError::Corrupt {
                path,
                detail: error.to_string(),
            },
            E::Open | E::Read | E::Stat | E::Write => WimError::Io {
                path,
                detail: error.to_string(),
            },
            E::AbortedByProgress => WimError::Cancelled,
            other => WimError::Internal(format!("{}: {other}", path.display())),
        }
    }
}
