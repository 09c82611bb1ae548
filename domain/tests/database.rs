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
