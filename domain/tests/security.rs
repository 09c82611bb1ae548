//! Role-based administration through the domain: scopes decide what a scoped user sees and
//! changes, new objects get their creator's scopes, nobody grants what they do not hold, and
//! the Security tab shows each user's effective operations.

use std::{collections::BTreeSet, path::Path, sync::Arc, time::Duration};

use domain::{
    Actor, Domain, Error, Role,
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
            audit.entries, 8,
            "2 scopes, 3 users, 1 scope change, 1 role copy, 1 assignment"
        );
        runner.shutdown().await;
    }
}
