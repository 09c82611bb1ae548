//! One server per data directory. The console's stores, sweeps and job runner assume they are
//! alone with `<data_dir>`: a second server (or a command that runs jobs) beside a running one
//! would claim its jobs, sweep its temporary files and race its writes. [`DataDirLock`] is an
//! advisory lock (`flock`) on `<data_dir>/wimdeck.lock`, held for as long as the process runs
//! work there; the kernel releases it when the process ends, however it ends (`kill -9`
//! included), so a crash never leaves a stale lock behind.

use std::{
    fs::File,
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use rustix::fs::{FlockOperation, flock};

use crate::{Error, Result};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "wimdeck.lock";

/// A held lock on a data directory; dropping it releases the lock.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

/// What [`DataDirLock::try_acquire`] found.
#[derive(Debug)]
pub enum Acquired {
    Held(DataDirLock),
    /// Another process holds it; what it wrote about itself (`pid 1234, wimdeck serve`).
    Busy(String),
}

impl DataDirLock {
    /// Takes the lock, or reports who holds it. `role` says what this process does there
    /// (`wimdeck serve`), for the message another one will show.
    pub fn try_acquire(data_dir: &Path, role: &str) -> Result<Acquired> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(LOCK_FILE);
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let mut holder = String::new();
                file.read_to_string(&mut holder)?;
                let holder = holder.trim();
                return Ok(Acquired::Busy(if holder.is_empty() {
                    "another process".to_owned()
                } else {
                    holder.to_owned()
                }));
            }
            Err(e) => return Err(Error::Io(std::io::Error::from(e))),
        }
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "pid {}, {role}", std::process::id())?;
        file.sync_all()?;
        Ok(Acquired::Held(Self { _file: file, path }))
    }

    /// Takes the lock for a server, or fails with a message naming the one that holds it.
    pub fn acquire_for_server(data_dir: &Path) -> Result<Self> {
        match Self::try_acquire(data_dir, "wimdeck serve")? {
            Acquired::Held(lock) => Ok(lock),
            Acquired::Busy(holder) => Err(Error::Conflict(format!(
                "{} is in use by another Wimdeck process ({holder}); one server runs per data directory: stop that one, or give this one its own --data-dir",
                data_dir.display()
            ))),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = DataDirLock::acquire_for_server(dir.path()).expect("first");
        match DataDirLock::try_acquire(dir.path(), "wimdeck image import").expect("try") {
            Acquired::Busy(holder) => {
                assert!(
                    holder.contains(&format!("pid {}", std::process::id())),
                    "{holder}"
                );
                assert!(holder.contains("wimdeck serve"), "{holder}");
            }
            Acquired::Held(_) => panic!("two holders"),
        }
        let refused = DataDirLock::acquire_for_server(dir.path()).expect_err("refused");
        assert!(
            refused
                .to_string()
                .contains("one server runs per data directory")
        );
        drop(first);
        assert!(matches!(
            DataDirLock::try_acquire(dir.path(), "wimdeck image import").expect("try"),
            Acquired::Held(_)
        ));
    }
}
