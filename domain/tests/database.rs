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
