//! Checks that hold only inside the transaction that acts on them: a write that commits while
//! the action waits for its turn is seen. Each test holds a catalog write open on a second
//! connection (as an import's or an Apply's commit would be), starts the action, then commits.

use std::time::Duration;

use domain::{
    Error, Role,
    catalog::ImageKind,
    fixtures::{self, Arch},
    testing::BACKENDS,
};
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, TransactionTrait,
};

use super::Setup;

/// A catalog write in progress on its own connection: on PostgreSQL it holds the lock that
/// orders audited transactions, as the catalog's own writes do; on SQLite its first write
/// takes the database's write lock.
async fn open_write(s: &Setup, statement: &str) -> (DatabaseConnection, DatabaseTransaction) {
    let conn = Database::connect(&s.db.url).await.expect("connect");
    // A plain transaction on a connection of its own, as another server's would be.
    #[allow(clippy::disallowed_methods)]
    let txn = conn.begin().await.expect("begin");
    if txn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        txn.execute_unprepared("SELECT pg_advisory_xact_lock(1464090965)")
            .await
            .expect("lock");
    }
    txn.execute_unprepared(statement).await.expect(statement);
    (conn, txn)
}

/// Lets `action` start and wait for its turn, commits the write, and returns what `action`
/// did.
async fn commit_while<T: Send + 'static>(
    txn: DatabaseTransaction,
    action: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let task = tokio::spawn(action);
    tokio::time::sleep(Duration::from_millis(500)).await;
    txn.commit().await.expect("commit");
    task.await.expect("task")
}

/// Discarding a finished upload while an import that takes its file over commits: the
/// discard sees the image and keeps the file.
#[tokio::test]
async fn a_discarded_upload_keeps_a_file_an_import_took_meanwhile() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let other = s.import(ImageKind::Boot, "boot_amd64.wim", "Lab PE").await;
        let bytes = std::fs::read(s.root.join("install.wim")).expect("read");
        let uploads = s.domain.for_actor(&s.admin).uploads();
        let upload = uploads
            .begin("install.wim", bytes.len() as u64)
            .await
            .expect("begin");
        let done = uploads
            .receive(&upload.id, 0, &bytes[..])
            .await
            .expect("upload");
        let (_conn, txn) = open_write(
            &s,
            &format!(
                "UPDATE images SET file_path = '{}' WHERE id = {other}",
                done.path.display()
            ),
        )
        .await;
        let (domain, admin, id) = (s.domain.clone(), s.admin.clone(), done.id.clone());
        let discarded = commit_while(txn, async move {
            domain.for_actor(&admin).uploads().discard(&id).await
        })
        .await;
        assert!(
            matches!(&discarded, Err(Error::Conflict(m)) if m.contains("is the file of an image")),
            "{discarded:?}"
        );
        assert!(done.path.is_file(), "the image's file was removed");
    }
}

/// Completing a new upload of a name while an import that takes the earlier upload's file in
/// place commits: the completion sees the image and leaves its file alone.
#[tokio::test]
async fn a_new_upload_does_not_replace_a_file_an_import_took_meanwhile() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let other = s.import(ImageKind::Boot, "boot_amd64.wim", "Lab PE").await;
        let first = std::fs::read(s.root.join("install.wim")).expect("read");
        let uploads = s.domain.for_actor(&s.admin).uploads();
        let upload = uploads
            .begin("install.wim", first.len() as u64)
            .await
            .expect("begin");
        let done = uploads
            .receive(&upload.id, 0, &first[..])
            .await
            .expect("upload");
        // The same name again, other bytes: all but the last one sent.
        let mut second = first.clone();
        let middle = second.len() / 2;
        second[middle] ^= 0xFF;
        let again = uploads
            .begin("install.wim", second.len() as u64)
            .await
            .expect("begin again");
        let last = second.len() - 1;
        uploads
            .receive(&again.id, 0, &second[..last])
            .await
            .expect("all but the last byte");
        let (_conn, txn) = open_write(
            &s,
            &format!(
                "UPDATE images SET file_path = '{}' WHERE id = {other}",
                done.path.display()
            ),
        )
        .await;
        let (domain, admin, id) = (s.domain.clone(), s.admin.clone(), again.id.clone());
        let tail = second[last..].to_vec();
        let completed = commit_while(txn, async move {
            domain
                .for_actor(&admin)
                .uploads()
                .receive(&id, last as u64, &tail[..])
                .await
        })
        .await;
        assert!(
            matches!(&completed, Err(Error::Conflict(m)) if m.contains("is the file of an image")),
            "{completed:?}"
        );
        assert!(
            std::fs::read(&done.path).expect("the image's file") == first,
            "the image's file was replaced"
        );
    }
}

/// Discarding an upload that a new upload of the same name replaced meanwhile: the discard
/// finds it gone and leaves the new upload's file alone.
#[tokio::test]
async fn a_discard_leaves_the_file_of_the_upload_that_replaced_it() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let bytes = std::fs::read(s.root.join("install.wim")).expect("read");
        let uploads = s.domain.for_actor(&s.admin).uploads();
        let upload = uploads
            .begin("install.wim", bytes.len() as u64)
            .await
            .expect("begin");
        let done = uploads
            .receive(&upload.id, 0, &bytes[..])
            .await
            .expect("upload");
        // The completion of a new upload of that name removes this one's row.
        let (_conn, txn) =
            open_write(&s, &format!("DELETE FROM uploads WHERE id = '{}'", done.id)).await;
        let (domain, admin, id) = (s.domain.clone(), s.admin.clone(), done.id.clone());
        let discarded = commit_while(txn, async move {
            domain.for_actor(&admin).uploads().discard(&id).await
        })
        .await;
        assert!(
            matches!(discarded, Err(Error::NotFound(_))),
            "{discarded:?}"
        );
        assert!(
            done.path.is_file(),
            "the file went with a discard that found nothing"
        );
    }
}

/// Deleting a driver while a boot image's recipe takes it (its list) commits: the delete sees
/// the image that lists it and is refused.
#[tokio::test]
async fn a_driver_an_image_took_meanwhile_is_not_deleted() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let image = s.import(ImageKind::Boot, "boot_amd64.wim", "Lab PE").await;
        let package = fixtures::drivers::DriverPackage::network("labnic", &[Arch::Amd64]);
        package.write(&s.root.join("labnic")).expect("driver");
        s.import_drivers(&s.admin, "labnic", &[]).await;
        let driver = s
            .domain
            .for_actor(&s.admin)
            .drivers()
            .list(&Default::default())
            .await
            .expect("drivers")
            .drivers
            .pop()
            .expect("driver");
        let (_conn, txn) = open_write(
            &s,
            &format!(
                "INSERT INTO boot_image_drivers (image_id, driver_id, added_by, added_at_ms) \
                 VALUES ({image}, {}, 'admin', 1)",
                driver.id
            ),
        )
        .await;
        let (domain, admin) = (s.domain.clone(), s.admin.clone());
        let (id, version) = (driver.id, driver.row_version);
        let deleted = commit_while(txn, async move {
            domain.for_actor(&admin).drivers().delete(id, version).await
        })
        .await;
        assert!(
            matches!(&deleted, Err(Error::Conflict(m)) if m.contains("\"Lab PE\"")),
            "{deleted:?}"
        );
        assert!(driver.store_path.is_dir(), "the driver's files went");
    }
}

/// Importing a driver that is in the catalog already, in a scope the importer cannot see:
/// the import neither names it nor puts its categories on it.
#[tokio::test]
async fn a_duplicate_out_of_scope_is_neither_named_nor_changed() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let (lab_user, _, production) = s
            .lab_user("labosd", Role::OperatingSystemDeploymentManager)
            .await;
        let package = fixtures::drivers::DriverPackage::network("prodnic", &[Arch::Amd64]);
        for folder in ["prodnic", "labcopy"] {
            package.write(&s.root.join(folder)).expect("driver");
        }
        let first = s.import_drivers(&s.admin, "prodnic", &["production"]).await;
        s.domain
            .for_actor(&s.admin)
            .security()
            .set_object_scopes(
                domain::authz::ObjectType::DriverPackage,
                first["package_id"].as_i64().expect("package"),
                &[production].into(),
            )
            .await
            .expect("to production");
        let second = s.import_drivers(&lab_user, "labcopy", &["lab"]).await;
        let outcome = &second["drivers"][0];
        assert_eq!(outcome["outcome"], "duplicate", "{second:#}");
        assert!(outcome.get("driver_id").is_none(), "{second:#}");
        let driver = s
            .domain
            .for_actor(&s.admin)
            .drivers()
            .list(&Default::default())
            .await
            .expect("drivers")
            .drivers
            .pop()
            .expect("driver");
        assert_eq!(driver.categories, ["production"]);
    }
}
