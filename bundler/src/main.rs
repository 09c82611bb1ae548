//! Splits the browser bundle's wasm at its lazy functions (`#[leptos::lazy]`), one module per
//! console area, with `wasm_split_cli_support`, and names what it writes for immutable caching.
//!
//! ```text
//! bundler INPUT.wasm OUT_DIR BUILD_HASH
//! ```
//!
//! `INPUT.wasm` is the frontend linked with `--emit-relocs`. Into `OUT_DIR` go `main.wasm` (for
//! wasm-bindgen, which names its loader `wimdeck.js`), the chunks as `<stem>.<BUILD_HASH>.wasm`,
//! their loader `__wasm_split.<BUILD_HASH>.js`, and `__wasm_split_manifest.<BUILD_HASH>.json`,
//! the chunks each lazy function needs, which the server reads to preload a page's chunks.
//! `BUILD_HASH` is the caller's hash of the input and the tools, so every name changes when the
//! content can.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
};

/// The module wasm-bindgen will write (`--out-name wimdeck`), which the chunks import.
const MAIN_MODULE: &str = "./wimdeck.js";

#[derive(Debug)]
enum Error {
    Usage,
    BadHash(String),
    Io(PathBuf, std::io::Error),
    Split(String),
    Loader(PathBuf, String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Usage => write!(f, "usage: bundler INPUT.wasm OUT_DIR BUILD_HASH"),
            Self::BadHash(hash) => write!(
                f,
                "the build hash must be 16 or more hex digits, not {hash:?}"
            ),
            Self::Io(path, error) => write!(f, "{}: {error}", path.display()),
            Self::Split(error) => write!(f, "splitting the wasm failed: {error}"),
            Self::Loader(path, what) => write!(f, "{}: {what}", path.display()),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [input, out_dir, hash] => split(Path::new(input), Path::new(out_dir), hash),
        _ => Err(Error::Usage),
    };
    match result {
        Ok(chunks) => {
            println!("split into main.wasm and {chunks} chunks");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("bundler: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Splits `input` into `out_dir`; returns the number of chunks.
fn split(input: &Path, out_dir: &Path, hash: &str) -> Result<usize, Error> {
    if hash.len() < 16 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::BadHash(hash.to_owned()));
    }
    let wasm = std::fs::read(input).map_err(|e| Error::Io(input.to_owned(), e))?;
    std::fs::create_dir_all(out_dir).map_err(|e| Error::Io(out_dir.to_owned(), e))?;
    let main_out = out_dir.join("main.wasm");
    let link_name = format!("./__wasm_split.{hash}.js");
    let mut options = wasm_split_cli_support::Options::new(&wasm);
    options.output_dir = out_dir;
    options.main_out_path = &main_out;
    options.link_name = &link_name;
    options.main_module = MAIN_MODULE;
    options.target.web();
    let split =
        wasm_split_cli_support::transform(options).map_err(|e| Error::Split(e.to_string()))?;

    // Chunk names carry the build hash, and the loader fetches them by those names.
    let loader_path = out_dir.join(&link_name[2..]);
    let mut loader =
        std::fs::read_to_string(&loader_path).map_err(|e| Error::Io(loader_path.clone(), e))?;
    for chunk in &split.split_modules {
        let stem = file_stem(chunk)?;
        let renamed = out_dir.join(format!("{stem}.{hash}.wasm"));
        std::fs::rename(chunk, &renamed).map_err(|e| Error::Io(chunk.clone(), e))?;
        let (old, new) = (
            format!("\"./{stem}.wasm\""),
            format!("\"./{stem}.{hash}.wasm\""),
        );
        if !loader.contains(&old) {
            return Err(Error::Loader(
                loader_path,
                format!("does not fetch {old}; the splitter's loader has changed"),
            ));
        }
        loader = loader.replace(&old, &new);
    }
    std::fs::write(&loader_path, loader).map_err(|e| Error::Io(loader_path.clone(), e))?;

    // Sorted, so the same input always gives the same manifest.
    let manifest: BTreeMap<&String, Vec<String>> = split
        .prefetch_map
        .iter()
        .map(|(split, stems)| {
            let mut stems: Vec<String> = stems.iter().map(|s| format!("{s}.{hash}")).collect();
            stems.sort();
            (split, stems)
        })
        .collect();
    let manifest_path = out_dir.join(format!("__wasm_split_manifest.{hash}.json"));
    let text = serde_json::to_string(&manifest)
        .map_err(|e| Error::Loader(manifest_path.clone(), e.to_string()))?;
    std::fs::write(&manifest_path, text).map_err(|e| Error::Io(manifest_path, e))?;
    Ok(split.split_modules.len())
}

fn file_stem(path: &Path) -> Result<&str, Error> {
    path.file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| Error::Loader(path.to_owned(), "a chunk without a UTF-8 name".into()))
}
