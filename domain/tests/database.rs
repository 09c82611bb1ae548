use domain::{
    DatabaseKind, Domain,
    testing::{BACKENDS, Backend, TestDb},
};

#[tokio::test]
async fn migrations_apply_once_and_report_the_engine() {
    for backend in BACKENDS {
        let db = TestDb::create(backend).await;
        assert!(Domain::migrate(&db.config()).await.expect("first migrate") > 0);
        assert_eq!(
            Domain::migrate(&db.config()).await.expect("second migrate"),
            0
        );
        let (domain, _clock, _db2) = crate::open(backend).await;
        let expected = match backend {
            Backend::Sqlite => DatabaseKind::Sqlite,
            Backend::Postgres => DatabaseKind::Postgres,
        };
        assert_eq!(domain.database_kind(), expected);
        domain.ping().await.expect("ping");
        let actor = domain::Actor {
            user_id: 0,
            username: "x".into(),
            roles: vec![],
            grants: Default::default(),
            source_addr: None,
            authentication: Default::default(),
        };
        let status = domain.for_actor(&actor).status().await.expect("status");
        assert!(!status.database_version.is_empty());
        assert_eq!(status.users, 0);
    }
}

#[tokio::test]
async fn sqlite_runs_in_wal_with_full_sync_and_foreign_keys() {
    let db = TestDb::create(Backend::Sqlite).await;
    Domain::open(&db.config()).await.expect("open");
    // The journal mode is persistent in the file; check it with a separate connection.
    let path = db.data_dir.join("wimdeck.db");
    let header = std::fs::read(&path).expect("database file");
    // Bytes 18 and 19 of the SQLite header are 2 in WAL mode.
    assert_eq!((header[18], header[19]), (2, 2));
}

/// The security migration turns users' former roles into assignments on all scopes and puts
/// what existed (here a driver package) into the Default scope.
#[tokio::test]
async fn roles_from_before_security_scopes_become_assignments_on_all_scopes() {
    use migrations::{Migrator, MigratorTrait};
    use sea_orm::{ConnectionTrait, Database};
    for backend in BACKENDS {
        let db = TestDb::create(backend).await;
        let conn = Database::connect(&db.url).await.expect("connect");
        Migrator::up(&conn, Some(5)).await.expect("up to drivers");
        for sql in [
            "INSERT INTO users (username, username_key, password_hash, disabled, created_at_ms) \
             VALUES ('old', 'old', 'x', FALSE, 1)",
            "INSERT INTO user_roles (user_id, role) SELECT id, 'content-operator' FROM users",
            "INSERT INTO user_roles (user_id, role) SELECT id, 'auditor' FROM users",
            "INSERT INTO driver_packages (name, source, format, sha256, driver_count, \
             rejected_count, imported_by, imported_at_ms) VALUES ('p', '/x', 'folder', '', 1, 0, 'old', 1)",
        ] {
            conn.execute_unprepared(sql).await.expect(sql);
        }
        Migrator::up(&conn, None).await.expect("up");
        let domain = Domain::open(&db.config()).await.expect("open");
        let user_id = conn
            .query_one_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                "SELECT id FROM users WHERE username = 'old'",
            ))
            .await
            .expect("query")
            .expect("row")
            .try_get::<i64>("", "id")
            .expect("id");
        let actor = domain.accounts().actor(user_id).await.expect("actor");
        assert_eq!(
            actor.roles,
            [domain::Role::ContentOperator, domain::Role::Auditor]
        );
        assert!(
            actor
                .grants
                .0
                .iter()
                .all(|g| g.scopes == domain::authz::ScopeSet::All)
        );
        let scoped = conn
            .query_one_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                "SELECT s.name FROM object_scopes o JOIN security_scopes s ON s.id = o.scope_id \
                 WHERE o.object_type = 'driver-package'",
            ))
            .await
            .expect("query")
            .expect("row")
            .try_get::<String>("", "name")
            .expect("name");
        assert_eq!(scoped, "Default");
    }
}

/// Boot images from before revisions become revision 1 of themselves: built from the base
/// they had (their own file when no driver was applied), with the drivers their file holds as
/// the recipe; their files are held, their driver lists stay, and queued driver applications
/// become builds.
#[tokio::test]
async fn boot_images_from_before_revisions_become_revision_one() {
    use migrations::{Migrator, MigratorTrait};
    use sea_orm::{ConnectionTrait, Database};
    for backend in BACKENDS {
        let db = TestDb::create(backend).await;
        let conn = Database::connect(&db.url).await.expect("connect");
        Migrator::up(&conn, Some(9)).await.expect("up to job holds");
        use domain::wim::WimBackend;
        let metadata = serde_json::to_string(
            &domain::wim::Wimlib
                .inspect(&crate::samples().boot_amd64, false)
                .expect("inspect"),
        )
        .expect("json");
        let injected = r#"[{"id":7,"name":"Intel NIC","inf_name":"e1d.inf","version":"1.0","content_hash":"abc","folder":"X:\\Windows\\Wimdeck\\Drivers\\001-e1d"}]"#;
        let insert = |id: i64, file: &str, base: Option<&str>, drivers: &str| {
            format!(
                "INSERT INTO images (id, kind, name, name_key, version, comment, source_path, source_index, \
                 file_path, owned, image_count, decompressed_bytes, file_bytes, sha256, metadata, state, \
                 row_version, content_revision, base_file_path, injected_drivers, drivers_revision, \
                 created_by, created_at_ms, updated_at_ms) VALUES ({id}, 'boot', 'PE {id}', 'pe {id}', '', '', \
                 '/src/boot.wim', 1, '{file}', TRUE, 1, 10, 10, 'sha{id}', '{}', 'ready', 1, 2, {}, '{drivers}', \
                 NULL, 'old', 1, 2)",
                metadata.replace('\'', "''"),
                base.map_or("NULL".to_owned(), |b| format!("'{b}'"))
            )
        };
        for sql in [
            insert(1, "/store/with-drivers.wim", Some("/store/base.wim"), injected),
            insert(2, "/store/plain.wim", None, "[]"),
            "INSERT INTO boot_image_drivers (image_id, driver_id, added_by, added_at_ms) VALUES (1, 7, 'old', 1)"
                .to_owned(),
            "INSERT INTO jobs (kind, params, state, attempts, max_attempts, retry_safe, run_after_ms, \
             created_at_ms, updated_at_ms, cancel_requested) VALUES ('boot-image-drivers', '{\"image_id\":1}', \
             'queued', 0, 3, TRUE, 1, 1, 1, FALSE)"
                .to_owned(),
        ] {
            conn.execute_unprepared(&sql).await.expect(&sql);
        }
        Migrator::up(&conn, None).await.expect("up");
        let domain = Domain::open(&db.config()).await.expect("open");
        let with_drivers = domain.catalog().get(1).await.expect("image");
        let revisions = domain
            .boot_images()
            .revisions(&with_drivers)
            .await
            .expect("revisions");
        assert_eq!(revisions.len(), 1);
        let first = &revisions[0];
        assert_eq!(first.number, 1);
        assert_eq!(first.base_path, std::path::Path::new("/store/base.wim"));
        assert_eq!(
            first.file_path.as_deref(),
            Some(std::path::Path::new("/store/with-drivers.wim"))
        );
        assert_eq!(first.recipe.drivers.len(), 1);
        assert_eq!(first.recipe.drivers[0].inf_name, "e1d.inf");
        assert_eq!(first.metadata, with_drivers.inspection);
        let files = domain
            .catalog()
            .files_of(&with_drivers)
            .await
            .expect("files");
        assert_eq!(
            files.into_iter().collect::<Vec<_>>(),
            [
                std::path::PathBuf::from("/store/base.wim"),
                std::path::PathBuf::from("/store/with-drivers.wim")
            ]
        );
        let plain = domain.catalog().get(2).await.expect("image");
        let state = domain.boot_images().state(&plain).await.expect("state");
        assert_eq!(state.base_path, std::path::Path::new("/store/plain.wim"));
        let kinds: Vec<String> = domain
            .jobs()
            .list(&Default::default(), Default::default(), 10)
            .await
            .expect("jobs")
            .jobs
            .into_iter()
            .map(|j| j.kind)
            .collect();
        assert_eq!(kinds, ["boot-image-build"]);
        let listed = conn
            .query_one_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                "SELECT COUNT(*) AS n FROM boot_image_drivers",
            ))
            .await
            .expect("query")
            .expect("row")
            .try_get::<i64>("", "n")
            .expect("n");
        assert_eq!(listed, 1, "the driver list stays");
    }
}
