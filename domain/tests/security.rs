//! Role-based administration through the domain: scopes decide what a scoped user sees and
//! changes, new objects get their creator's scopes, nobody grants what they do not hold, and
//! the Security tab shows each user's effective operations.

use std::{collections::BTreeSet, path::Path, sync::Arc, time::Duration};

use domain::{
    Actor, Domain, Error, Role,
    accounts::ClientInfo,
    authz::{ObjectType, Operation, ScopeSet},
    catalog::{ImageEdit, ImageKind, kinds::ImportRequest},
    fixtures::{self, Arch, WinPeRelease, WindowsTree},
    jobs::{JobState, Runner},
    testing::{BACKENDS, ManualClock, TestDb, fast_runner_options, wait_until_final},
};

const LONG: Duration = Duration::from_secs(60);

fn boot_wim(dir: &Path, name: &str) -> String {
    let tree = dir.join(format!(".{name}-tree"));
    WindowsTree::winpe(Arch::Amd64, WinPeRelease::V10)
        .write(&tree)
        .expect("tree");
    let out = dir.join(name);
    fixtures::capture(&tree, "Microsoft Windows PE (amd64)", &out, true).expect("capture");
    std::fs::remove_dir_all(&tree).expect("rm tree");
    out.display().to_string()
}

async fn import(domain: &Domain, actor: &Actor, source: String, name: &str) -> i64 {
    let job = domain
        .for_actor(actor)
        .catalog()
        .import(ImportRequest {
            kind: ImageKind::Boot,
            source,
            index: None,
            name: Some(name.into()),
            version: String::new(),
            comment: String::new(),
            architecture: None,
            language: None,
        })
        .await
        .expect("import");
    let job = wait_until_final(domain, job, LONG).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    job.result.expect("result")["image_id"]
        .as_i64()
        .expect("id")
}

fn role_id(roles: &[domain::authz::admin::RoleInfo], role: Role) -> i64 {
    roles
        .iter()
        .find(|r| r.slug.as_deref() == Some(role.slug()))
        .expect("role")
        .id
}

#[tokio::test]
async fn scopes_decide_what_a_scoped_user_sees_and_changes() {
    for backend in BACKENDS {
        let db = TestDb::create(backend).await;
        let root = db.data_dir.join("sources");
        std::fs::create_dir_all(&root).expect("root");
        let mut config = db.config();
        config.images.source_roots = vec![root.clone()];
        let domain =
            Domain::open_with_clock(&config, Arc::new(ManualClock::starting_at(crate::T0)))
                .await
                .expect("open");
        let admin_id = domain
            .accounts()
            .create_user("admin", crate::PASSWORD, &[Role::FullAdministrator])
            .await
            .expect("admin");
        let admin = domain.accounts().actor(admin_id).await.expect("actor");
        let runner = Runner::start(&domain, fast_runner_options());
        let security = domain.for_actor(&admin).security();
        let lab = security
            .create_scope("Lab", "Test benches")
            .await
            .expect("lab");
        let production = security
            .create_scope("Production", "")
            .await
            .expect("production");
        let err = security.create_scope("lab", "").await.expect_err("taken");
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        let roles = security.roles().await.expect("roles");
        assert_eq!(roles.iter().filter(|r| r.builtin).count(), 7);
        let osd_role = role_id(&roles, Role::OperatingSystemDeploymentManager);
        let lab_only = ScopeSet::Only(BTreeSet::from([lab]));
        let osd_id = security
            .create_user("lab-osd", crate::PASSWORD, osd_role, lab_only.clone())
            .await
            .expect("lab-osd");
        let osd = domain.accounts().actor(osd_id).await.expect("actor");

        // The admin's image goes to Production; the scoped user's own import lands in Lab.
        let prod_image = import(&domain, &admin, boot_wim(&root, "prod.wim"), "Prod PE").await;
        security
            .set_object_scopes(
                ObjectType::BootImage,
                prod_image,
                &BTreeSet::from([production]),
            )
            .await
            .expect("to production");
        let lab_image = import(&domain, &osd, boot_wim(&root, "lab.wim"), "Lab PE").await;
        let lab_security = security
            .object_security(ObjectType::BootImage, lab_image)
            .await
            .expect("security tab");
        assert_eq!(lab_security.scopes, [(lab, "Lab".to_owned())]);

        let catalog = domain.for_actor(&osd).catalog();
        let seen: Vec<String> = catalog
            .list(ImageKind::Boot)
            .await
            .expect("list")
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(seen, ["Lab PE"], "Production is hidden");
        let err = catalog
            .get(ImageKind::Boot, prod_image)
            .await
            .expect_err("out of scope");
        assert!(
            err.to_string().contains("outside your security scopes"),
            "{err}"
        );
        let lab_row = catalog
            .get(ImageKind::Boot, lab_image)
            .await
            .expect("in scope");
        let edit = |row_version| ImageEdit {
            name: "Lab PE 2".into(),
            version: "2".into(),
            comment: String::new(),
            architecture: None,
            language: None,
            expected_row_version: row_version,
        };
        catalog
            .edit(ImageKind::Boot, lab_image, edit(lab_row.row_version))
            .await
            .expect("edit in scope");
        assert!(matches!(
            catalog.edit(ImageKind::Boot, prod_image, edit(1)).await,
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            catalog.delete(ImageKind::Boot, prod_image, 1).await,
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            domain.for_actor(&osd).security().users().await,
            Err(Error::Forbidden(_))
        ));

        // The Security tab: the admin has everything, the scoped user what OSD allows, on Lab
        // only; an analyst on all scopes reads.
        let analyst_role = role_id(&roles, Role::ReadOnlyAnalyst);
        security
            .create_user("analyst", crate::PASSWORD, analyst_role, ScopeSet::All)
            .await
            .expect("analyst");
        let tab = security
            .object_security(ObjectType::BootImage, lab_image)
            .await
            .expect("tab");
        let ops = |user: &str| {
            tab.users
                .iter()
                .find(|(name, _)| name == user)
                .map(|(_, ops)| ops.clone())
                .unwrap_or_default()
        };
        assert_eq!(ops("admin"), ObjectType::BootImage.operations());
        assert_eq!(ops("lab-osd"), ObjectType::BootImage.operations());
        assert_eq!(ops("analyst"), [Operation::Read]);
        let prod_tab = security
            .object_security(ObjectType::BootImage, prod_image)
            .await
            .expect("tab");
        assert!(prod_tab.users.iter().all(|(name, _)| name != "lab-osd"));

        // A security administrator of Lab: moves objects only between scopes they hold and
        // grants only what they hold.
        let sec_role = role_id(&roles, Role::SecurityAdministrator);
        let sec_id = security
            .create_user("lab-security", crate::PASSWORD, sec_role, lab_only.clone())
            .await
            .expect("lab-security");
        let sec = domain.accounts().actor(sec_id).await.expect("actor");
        let lab_security_admin = domain.for_actor(&sec).security();
        let err = lab_security_admin
            .set_object_scopes(
                ObjectType::BootImage,
                lab_image,
                &BTreeSet::from([production]),
            )
            .await
            .expect_err("does not hold Production");
        assert!(matches!(err, Error::Forbidden(_)), "{err}");
        let err = lab_security_admin
            .assign(
                osd_id,
                role_id(&roles, Role::FullAdministrator),
                ScopeSet::All,
            )
            .await
            .expect_err("cannot grant Full Administrator");
        assert!(matches!(err, Error::Forbidden(_)), "{err}");
        let err = lab_security_admin
            .assign(osd_id, osd_role, lab_only.clone())
            .await
            .expect_err("does not hold the OSD Manager's rights");
        assert!(err.to_string().contains("do not hold"), "{err}");
        let err = lab_security_admin
            .reset_password(admin_id, "another long password")
            .await
            .expect_err("cannot change a more powerful user");
        assert!(matches!(err, Error::Forbidden(_)), "{err}");

        // A custom role copied from the analyst, granted by the admin on Production only.
        let custom = security
            .copy_role(analyst_role, "Production reader", "")
            .await
            .expect("copy");
        security
            .assign(osd_id, custom, ScopeSet::Only(BTreeSet::from([production])))
            .await
            .expect("assign");
        let osd = domain.accounts().actor(osd_id).await.expect("actor");
        let seen = domain
            .for_actor(&osd)
            .catalog()
            .list(ImageKind::Boot)
            .await
            .expect("list")
            .len();
        assert_eq!(seen, 2, "now reads Production too");
        assert!(matches!(
            domain
                .for_actor(&osd)
                .catalog()
                .edit(ImageKind::Boot, prod_image, edit(2))
                .await,
            Err(Error::Forbidden(_))
        ));
        let err = security.delete_role(custom).await.expect_err("assigned");
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        let err = security.delete_scope(production).await.expect_err("in use");
        assert!(err.to_string().contains("object(s)"), "{err}");

        // Someone always administers everything.
        let full = security
            .users()
            .await
            .expect("users")
            .into_iter()
            .find(|u| u.username == "admin")
            .expect("admin");
        let err = security
            .set_disabled(admin_id, true)
            .await
            .expect_err("not yourself");
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        assert_eq!(full.assignments.len(), 1);

        // Every change above is in the audit log, chained.
        let audit = domain.audit().verify().await.expect("verify");
        assert_eq!(audit.broken_at, None);
        assert_eq!(
            audit.entries, 14,
            "1 user from the command line; 2 scopes, 3 users, 1 scope change, 1 role copy, \
             1 assignment; 2 imports queued and the 2 images their jobs added, 1 edit"
        );
        // The allowed edit records what changed.
        let auditor = domain.for_actor(&admin);
        let edits = auditor
            .audit()
            .search(
                &domain::audit::Filter {
                    object_type: Some(ObjectType::BootImage),
                    operation: Some(Operation::Modify),
                    ..Default::default()
                },
                None,
                10,
            )
            .await
            .expect("search");
        assert_eq!(edits.len(), 1);
        assert_eq!(edits[0].username, "lab-osd");
        assert_eq!(edits[0].object_id, Some(lab_image.to_string()));
        assert_eq!(edits[0].changes["version"], serde_json::json!(["", "2"]));
        runner.shutdown().await;
    }
}

#[tokio::test]
async fn assignments_need_known_scopes_and_built_in_roles_stay_read_only() {
    for backend in BACKENDS {
        let (domain, _clock, _db) = crate::open(backend).await;
        let admin_id = domain
            .accounts()
            .create_user("admin", crate::PASSWORD, &[Role::FullAdministrator])
            .await
            .expect("admin");
        let admin = domain.accounts().actor(admin_id).await.expect("actor");
        let security = domain.for_actor(&admin).security();
        let roles = security.roles().await.expect("roles");
        let analyst = role_id(&roles, Role::ReadOnlyAnalyst);

        let empty = ScopeSet::Only(BTreeSet::new());
        let err = security
            .create_user("nobody", crate::PASSWORD, analyst, empty)
            .await
            .expect_err("empty scopes");
        assert!(
            err.to_string().contains("at least one security scope"),
            "{err}"
        );
        let unknown = ScopeSet::Only(BTreeSet::from([9_999]));
        let err = security
            .create_user("nobody", crate::PASSWORD, analyst, unknown.clone())
            .await
            .expect_err("unknown scope");
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert!(
            security
                .users()
                .await
                .expect("users")
                .iter()
                .all(|u| u.username != "nobody"),
            "nothing was created"
        );
        let err = security
            .assign(admin_id, analyst, unknown)
            .await
            .expect_err("unknown scope");
        assert!(err.to_string().contains("does not exist"), "{err}");

        let builtin = roles.iter().find(|r| r.id == analyst).expect("analyst");
        let err = security
            .edit_role(
                analyst,
                "Reader",
                "",
                domain::authz::Permissions::everything(),
                builtin.row_version,
            )
            .await
            .expect_err("built-in");
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        assert!(err.to_string().contains("copy it"), "{err}");
        let err = security.delete_role(analyst).await.expect_err("built-in");
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        let unchanged = security.roles().await.expect("roles");
        assert_eq!(unchanged, roles, "the built-in roles are as they were");
    }
}

#[tokio::test]
async fn security_changes_ask_for_the_password_again_after_a_few_minutes() {
    for backend in BACKENDS {
        let (domain, clock, _db) = crate::open(backend).await;
        domain
            .accounts()
            .create_user("admin", crate::PASSWORD, &[Role::FullAdministrator])
            .await
            .expect("admin");
        let client = ClientInfo {
            source_addr: Some("192.0.2.7".into()),
            user_agent: None,
        };
        let (token, _) = domain
            .accounts()
            .sign_in("admin", crate::PASSWORD, &client)
            .await
            .expect("sign in");
        let session_actor = || async {
            domain
                .sessions()
                .resolve(&token)
                .await
                .expect("resolve")
                .expect("live")
                .actor
        };
        let roles = domain
            .for_actor(&session_actor().await)
            .security()
            .roles()
            .await
            .expect("roles");
        let analyst = role_id(&roles, Role::ReadOnlyAnalyst);
        let create = |actor: Actor, name: &'static str| {
            let domain = domain.clone();
            async move {
                domain
                    .for_actor(&actor)
                    .security()
                    .create_user(name, crate::PASSWORD, analyst, ScopeSet::All)
                    .await
            }
        };

        // Just signed in: no question asked.
        create(session_actor().await, "first").await.expect("fresh");
        // Six minutes later: changing users needs the password; reading does not.
        clock.advance_ms(6 * 60_000);
        let err = create(session_actor().await, "second")
            .await
            .expect_err("stale");
        assert!(matches!(err, Error::ReauthenticationRequired(_)), "{err}");
        assert_eq!(err.to_string(), "enter your password again to create users");
        domain
            .for_actor(&session_actor().await)
            .security()
            .users()
            .await
            .expect("reading needs no password");
        let err = domain
            .sessions()
            .confirm_password(&token, "wrong password!!", &client)
            .await
            .expect_err("wrong");
        assert!(matches!(err, Error::InvalidCredentials), "{err}");
        domain
            .sessions()
            .confirm_password(&token, crate::PASSWORD, &client)
            .await
            .expect("confirm");
        create(session_actor().await, "second")
            .await
            .expect("confirmed");
        // A user without the right is refused outright, not asked for a password.
        let first = domain
            .for_actor(&session_actor().await)
            .security()
            .users()
            .await
            .expect("users")
            .into_iter()
            .find(|u| u.username == "first")
            .expect("first");
        let analyst_actor = domain.accounts().actor(first.id).await.expect("actor");
        let err = create(analyst_actor, "third").await.expect_err("no right");
        assert!(matches!(err, Error::Forbidden(_)), "{err}");
    }
}

#[tokio::test]
async fn api_tokens_act_with_their_users_rights_or_fewer() {
    for backend in BACKENDS {
        let (domain, clock, _db) = crate::open(backend).await;
        let id = domain
            .accounts()
            .create_user(
                "ops",
                crate::PASSWORD,
                &[Role::OperatingSystemDeploymentManager, Role::Auditor],
            )
            .await
            .expect("ops");
        let ops = domain.accounts().actor(id).await.expect("actor");
        let tokens = domain.for_actor(&ops).api_tokens();
        let auditor = tokens
            .choices()
            .into_iter()
            .find(|c| c.role_name == Role::Auditor.display_name())
            .expect("auditor choice");

        let full = tokens
            .create("nightly import", 30, None)
            .await
            .expect("full");
        let limited = tokens
            .create("log shipper", 7, Some(auditor.role_id))
            .await
            .expect("limited");
        assert!(full.secret.starts_with("wdk_") && full.secret.len() > 40);
        assert_eq!(full.info.prefix, &full.secret[..12]);
        let err = tokens.create("bad", 366, None).await.expect_err("too long");
        assert!(err.to_string().contains("between 1 and 365"), "{err}");
        let err = tokens
            .create("bad", 1, Some(9_999))
            .await
            .expect_err("not my role");
        assert!(err.to_string().contains("one of your roles"), "{err}");

        let resolve = |secret: String| {
            let domain = domain.clone();
            async move {
                domain
                    .api_tokens()
                    .resolve(&secret, Some("192.0.2.9"))
                    .await
                    .expect("resolve")
            }
        };
        let as_full = resolve(full.secret.clone()).await.expect("full resolves");
        assert_eq!(as_full.username, "ops");
        assert!(as_full.holds(ObjectType::BootImage, Operation::Modify));
        assert!(as_full.holds(ObjectType::AuditLog, Operation::Read));
        let as_limited = resolve(limited.secret.clone()).await.expect("resolves");
        assert!(!as_limited.holds(ObjectType::BootImage, Operation::Modify));
        assert!(!as_limited.holds(ObjectType::BootImage, Operation::Create));
        assert!(as_limited.holds(ObjectType::AuditLog, Operation::Read));
        assert!(resolve("wdk_not-a-token".into()).await.is_none());
        assert!(resolve(full.secret.replace("wdk_", "xyz_")).await.is_none());

        // A token makes no security changes and no more tokens.
        let err = domain
            .for_actor(&as_full)
            .api_tokens()
            .create("child", 1, None)
            .await
            .expect_err("token");
        assert!(matches!(err, Error::Forbidden(_)), "{err}");

        let listed = tokens.list().await.expect("list");
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[1].last_used_from.as_deref(), Some("192.0.2.9"));
        tokens.revoke(full.info.id).await.expect("revoke");
        assert!(resolve(full.secret.clone()).await.is_none(), "revoked");
        clock.advance_ms(7 * 86_400_000);
        assert!(resolve(limited.secret.clone()).await.is_none(), "expired");

        // Someone else's token is not there to revoke.
        let other = domain
            .accounts()
            .create_user("other", crate::PASSWORD, &[Role::FullAdministrator])
            .await
            .expect("other");
        let other = domain.accounts().actor(other).await.expect("actor");
        let err = domain
            .for_actor(&other)
            .api_tokens()
            .revoke(limited.info.id)
            .await
            .expect_err("not theirs");
        assert!(matches!(err, Error::NotFound(_)), "{err}");
    }
}

#[tokio::test]
async fn auditors_search_and_export_the_log() {
    use domain::audit::{ExportFormat, Filter, Outcome};
    for backend in BACKENDS {
        let (domain, clock, _db) = crate::open(backend).await;
        let mut actors = Vec::new();
        for (name, role) in [
            ("admin", Role::FullAdministrator),
            ("auditor", Role::Auditor),
            ("osd", Role::OperatingSystemDeploymentManager),
        ] {
            let id = domain
                .accounts()
                .create_user(name, crate::PASSWORD, &[role])
                .await
                .expect("user");
            actors.push(domain.accounts().actor(id).await.expect("actor"));
        }
        let [admin, auditor, osd] = <[Actor; 3]>::try_from(actors).expect("three");
        let security = domain.for_actor(&admin).security();
        security
            .create_scope("Lab", "test benches")
            .await
            .expect("lab");
        clock.advance_ms(60_000);
        security
            .create_scope("=HYPERLINK(\"http://x\")", "")
            .await
            .expect("odd name");
        domain
            .audit()
            .record(&domain::audit::Entry {
                user_id: Some(osd.user_id),
                username: "osd".into(),
                operation: Operation::Create,
                object_type: ObjectType::Security,
                object_id: None,
                object_name: "/api/create_scope".into(),
                changes: Default::default(),
                outcome: Outcome::Denied,
                detail: "you do not have permission to create security".into(),
                source_addr: "192.0.2.1".into(),
            })
            .await
            .expect("denied");

        let log = domain.for_actor(&auditor).audit();
        let all = log
            .search(&Filter::default(), None, 100)
            .await
            .expect("all");
        // The three users added as the local administrator, the two scopes, the refusal.
        assert_eq!(all.len(), 6);
        assert_eq!(all[0].outcome, "denied", "newest first");
        assert_eq!(all[5].username, "local administrator");
        let denied = Filter {
            outcome: Some(Outcome::Denied),
            ..Default::default()
        };
        assert_eq!(
            log.search(&denied, None, 100).await.expect("denied").len(),
            1
        );
        let by_admin = Filter {
            user: Some("ADMIN".into()),
            text: Some("lab".into()),
            ..Default::default()
        };
        let found = log.search(&by_admin, None, 100).await.expect("admin");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].object_name, "Lab");
        let later = Filter {
            from_ms: Some(crate::T0 + 30_000),
            ..Default::default()
        };
        assert_eq!(log.search(&later, None, 100).await.expect("later").len(), 2);
        let page = log
            .search(&Filter::default(), Some(all[0].id), 1)
            .await
            .expect("page");
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].id, all[1].id);
        let percent = Filter {
            text: Some("%".into()),
            ..Default::default()
        };
        assert!(
            log.search(&percent, None, 100).await.expect("%").is_empty(),
            "% is literal"
        );

        let csv = log
            .export(&Filter::default(), ExportFormat::Csv)
            .await
            .expect("csv");
        let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 7, "{csv}");
        assert!(lines[0].starts_with("id,time_utc,user,operation"));
        // The time is UTC with milliseconds; the test clock runs with the wall clock, so the
        // oldest entry is compared with its own record rather than with T0.
        let time = lines[1].split(',').nth(1).expect("time cell");
        assert!(
            time.starts_with("2027-01-15T08:0") && time.ends_with('Z'),
            "{time}"
        );
        let parsed = chrono::DateTime::parse_from_rfc3339(time).expect("RFC 3339");
        assert_eq!(parsed.timestamp_millis(), all[5].at_ms, "{time}");
        assert!(
            lines[1].starts_with(&format!("{},", all[5].id)),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].contains("Z,local administrator,create,security,"),
            "{}",
            lines[1]
        );
        assert!(
            lines[4].contains("Z,admin,create,security,"),
            "{}",
            lines[4]
        );
        assert!(csv.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{csv}");
        let json = log.export(&denied, ExportFormat::Json).await.expect("json");
        let parsed: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(parsed.as_array().expect("array").len(), 1);
        assert_eq!(parsed[0]["username"], "osd");

        // Exports are recorded too; others may not read the log.
        let newest = log
            .search(&Filter::default(), None, 1)
            .await
            .expect("newest");
        assert!(
            newest[0].detail.starts_with("exported 1 entries as JSON"),
            "{:?}",
            newest[0]
        );
        let err = domain
            .for_actor(&osd)
            .audit()
            .search(&Filter::default(), None, 10)
            .await
            .expect_err("osd");
        assert!(matches!(err, Error::Forbidden(_)), "{err}");
        assert_eq!(
            domain.audit().verify().await.expect("verify").broken_at,
            None
        );
    }
}
