//! Connection, migrations and the sea-orm entities (crate-private).

pub(crate) mod entities;

use std::{path::Path, time::Duration};

use migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

use crate::{Error, Result};

/// The database engine behind the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl DatabaseKind {
    pub(crate) fn of(db: &DatabaseConnection) -> Self {
        match db.get_database_backend() {
            DatabaseBackend::Postgres => Self::Postgres,
            _ => Self::Sqlite,
        }
    }

    /// The name an admin knows it by.
    pub fn label(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
}

/// Opens a pool. SQLite gets WAL, `synchronous=FULL` (a committed change survives power loss)
/// and foreign keys; its directory is created if missing.
pub(crate) async fn connect(url: &str) -> Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        if let Some(dir) = sqlite_path(url).and_then(|p| p.parent().map(Path::to_path_buf))
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(&dir)?;
        }
        options
            .max_connections(8)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
            })
            .map_sqlx_sqlite_before_acquire(|conn, _| {
                Box::pin(async move { Ok(!sea_orm::sqlx::Connection::is_in_transaction(conn)) })
            });
    } else {
        // A task cancelled inside a transaction (a worker stopped, a request dropped) can hand
        // its connection back still in that transaction, or in one the server has aborted.
        // Such a connection is never reused: the statements of the next user would join the
        // stale transaction or fail with "current transaction is aborted". `SELECT 1` is the
        // check (it replaces the default ping, so acquiring still costs one round trip).
        options
            .max_connections(16)
            .test_before_acquire(false)
            .map_sqlx_postgres_before_acquire(|conn, _| {
                Box::pin(async move {
                    use sea_orm::sqlx::{Connection, Executor};
                    if conn.is_in_transaction() {
                        return Ok(false);
                    }
                    conn.execute("SELECT 1").await?;
                    Ok(true)
                })
            });
    }
    Database::connect(options).await.map_err(|e| {
        Error::Config(format!(
            "cannot open the database at {}: {e}",
            crate::config::redact_url(url)
        ))
    })
}

fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// Starts a transaction that will write. On SQLite it begins `IMMEDIATE`, taking the write lock
/// up front: a deferred transaction that reads and then writes fails at once with "database is
/// locked" when another connection committed in between (WAL cannot upgrade a stale snapshot),
/// whereas `BEGIN IMMEDIATE` waits for the busy timeout like any other write. PostgreSQL ignores
/// the option.
pub(crate) async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction> {
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(txn)
}

/// Applies pending migrations; returns how many ran.
pub(crate) async fn migrate(db: &DatabaseConnection) -> Result<usize> {
    let pending = Migrator::get_pending_migrations(db).await?.len();
    Migrator::up(db, None).await?;
    Ok(pending)
}

/// The engine's own version string, for the dashboard.
pub(crate) async fn server_version(db: &DatabaseConnection) -> Result<String> {
    let (sql, kind) = match DatabaseKind::of(db) {
        DatabaseKind::Sqlite => ("SELECT sqlite_version() AS v", DatabaseKind::Sqlite),
        DatabaseKind::Postgres => ("SHOW server_version", DatabaseKind::Postgres),
    };
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .ok_or_else(|| Error::Internal("no version row".into()))?;
    let column = match kind {
        DatabaseKind::Sqlite => "v",
        DatabaseKind::Postgres => "server_version",
    };
    let version: String = row.try_get("", column)?;
    // PostgreSQL appends the distribution ("15.19 (Debian 15.19-0+deb12u1)").
    Ok(version
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_are_found_in_urls() {
        assert_eq!(
            sqlite_path("sqlite:///a/b.db?mode=rwc"),
            Some(Path::new("/a/b.db"))
        );
        assert_eq!(
            sqlite_path("sqlite://rel/b.db"),
            Some(Path::new("rel/b.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }

    /// Read-then-write transactions racing a steady writer all commit: each waits for the
    /// write lock instead of failing with "database is locked" on a stale snapshot.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn write_transactions_wait_for_a_concurrent_writer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = connect(&url).await.expect("connect");
        let sql = |s: &str| Statement::from_string(DatabaseBackend::Sqlite, s.to_owned());
        db.execute_raw(sql(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
        ))
        .await
        .expect("table");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (db, stop) = (db.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    db.execute_raw(sql("INSERT INTO t (n) VALUES (-1)"))
                        .await
                        .expect("writer");
                }
            })
        };
        let mut workers = Vec::new();
        for worker in 0..4 {
            let db = db.clone();
            workers.push(tokio::spawn(async move {
                for i in 0..25 {
                    let txn = begin_write(&db).await.expect("begin");
                    txn.query_one_raw(sql("SELECT COUNT(*) FROM t"))
                        .await
                        .expect("read");
                    tokio::task::yield_now().await;
                    txn.execute_raw(sql(&format!(
                        "INSERT INTO t (n) VALUES ({})",
                        worker * 100 + i
                    )))
                    .await
                    .expect("write after read");
                    txn.commit().await.expect("commit");
                }
            }));
        }
        for worker in workers {
            worker.await.expect("worker");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.await.expect("writer");
        let row = db
            .query_one_raw(sql("SELECT COUNT(*) AS c FROM t WHERE n >= 0"))
            .await
            .expect("count")
            .expect("row");
        assert_eq!(row.try_get::<i64>("", "c").expect("c"), 100);
    }
}
