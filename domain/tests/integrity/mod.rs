//! The integrity review's findings, each as the attack or race that found it: jobs and the
//! catalog never race, every path is authorized, and every change commits with its audit entry.

use std::{sync::Arc, time::Duration};

use domain::{
    Actor, Domain, Error, Role,
    authz::ScopeSet,
    catalog::{ImageEdit, ImageKind, kinds::ImageAction, kinds::ImportRequest},
    fixtures::{self, Arch},
    jobs::{JobState, NewSchedule, Runner, ScheduleSpec},
    testing::{BACKENDS, Backend, ManualClock, TestDb, fast_runner_options, wait_until_final},
};
use sea_orm::{ConnectionTrait, Database};

mod holds;
mod races;

const LONG: Duration = Duration::from_secs(60);

struct Setup {
    domain: Domain,
    admin: Actor,
    root: std::path::PathBuf,
    db: TestDb,
    clock: ManualClock,
    runner: std::sync::Mutex<Option<Runner>>,
}

impl Setup {
    async fn new(backend: Backend) -> Self {
        Self::configured(backend, |_, _| {}).await
    }

    /// With `configure` applied to the configuration (given the source root) first.
    async fn configured(
        backend: Backend,
        configure: impl FnOnce(&mut domain::config::Config, &std::path::Path),
    ) -> Self {
        let db = TestDb::create(backend).await;
        let root = db.data_dir.join("sources");
        std::fs::create_dir_all(&root).expect("root");
        let library = crate::samples();
        for file in [&library.boot_amd64, &library.install] {
            std::fs::copy(file, root.join(file.file_name().expect("name"))).expect("copy");
        }
        let mut config = db.config();
        config.images.source_roots = vec![root.clone()];
        config.images.upload_max_bytes = Some(64 << 20);
        configure(&mut config, &root);
        let clock = ManualClock::starting_at(crate::T0);
        let domain = Domain::open_with_clock(&config, Arc::new(clock.clone()))
            .await
            .expect("open");
        let admin_id = domain
            .accounts()
            .create_user("admin", crate::PASSWORD, &[Role::FullAdministrator])
            .await
            .expect("admin");
        let admin = domain.accounts().actor(admin_id).await.expect("actor");
        Self {
            domain,
            admin,
            root,
            db,
            clock,
            runner: std::sync::Mutex::new(None),
        }
    }

    fn start_runner(&self) {
        let runner = Runner::start(&self.domain, fast_runner_options());
        *self.runner.lock().expect("runner") = Some(runner);
    }

    async fn stop_runner(&self) {
        let runner = self.runner.lock().expect("runner").take();
        if let Some(runner) = runner {
            runner.shutdown().await;
        }
    }

    async fn user(&self, name: &str, role: Role) -> Actor {
        let id = self
            .domain
            .accounts()
            .create_user(name, crate::PASSWORD, &[role])
            .await
            .expect("user");
        self.domain.accounts().actor(id).await.expect("actor")
    }

    fn request(&self, kind: ImageKind, file: &str, name: &str) -> ImportRequest {
        ImportRequest {
            kind,
            source: self.root.join(file).display().to_string(),
            index: None,
            name: Some(name.into()),
            version: String::new(),
            comment: String::new(),
            architecture: None,
            language: None,
        }
    }

    /// Imports with a runner of its own and returns the new image's id.
    async fn import(&self, kind: ImageKind, file: &str, name: &str) -> i64 {
        let had_runner = self.runner.lock().expect("runner").is_some();
        if !had_runner {
            self.start_runner();
        }
        let job = self
            .domain
            .for_actor(&self.admin)
            .catalog()
            .import(self.request(kind, file, name))
            .await
            .expect("import");
        let job = wait_until_final(&self.domain, job, LONG).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        if !had_runner {
            self.stop_runner().await;
        }
        job.result.expect("result")["image_id"]
            .as_i64()
            .expect("image id")
    }

    /// Imports the driver package in `folder` (under the source root) as `actor`, with a runner
    /// of its own; returns the job's result.
    async fn import_drivers(
        &self,
        actor: &Actor,
        folder: &str,
        categories: &[&str],
    ) -> serde_json::Value {
        let had_runner = self.runner.lock().expect("runner").is_some();
        if !had_runner {
            self.start_runner();
        }
        let job = self
            .domain
            .for_actor(actor)
            .drivers()
            .import(domain::drivers::import::DriverImportRequest {
                source: self.root.join(folder).display().to_string(),
                name: None,
                categories: categories.iter().map(|c| (*c).to_owned()).collect(),
            })
            .await
            .expect("import");
        let job = wait_until_final(&self.domain, job, LONG).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        if !had_runner {
            self.stop_runner().await;
        }
        job.result.expect("result")
    }

    /// The security scopes Lab and Production, and a user `name` with `role` on Lab only.
    async fn lab_user(&self, name: &str, role: Role) -> (Actor, i64, i64) {
        let security = self.domain.for_actor(&self.admin).security();
        let lab = security.create_scope("Lab", "").await.expect("lab");
        let production = security.create_scope("Production", "").await.expect("prod");
        let role_id = security
            .roles()
            .await
            .expect("roles")
            .iter()
            .find(|r| r.slug.as_deref() == Some(role.slug()))
            .expect("role")
            .id;
        let id = security
            .create_user(
                name,
                "a long lab passphrase",
                role_id,
                ScopeSet::Only([lab].into()),
            )
            .await
            .expect("lab user");
        let actor = self.domain.accounts().actor(id).await.expect("actor");
        (actor, lab, production)
    }

    async fn sql(&self, statement: &str) {
        let conn = Database::connect(&self.db.url).await.expect("connect");
        conn.execute_unprepared(statement).await.expect(statement);
        conn.close().await.expect("close");
    }
}

fn conflict(result: domain::Result<i64>) -> String {
    match result {
        Err(Error::Conflict(message)) => message,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// Queuing a second job on an image that has one queued or running is refused, naming the
/// job; so is deleting the image.
#[tokio::test]
async fn one_job_works_on_an_image_at_a_time() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let id = s.import(ImageKind::Boot, "boot_amd64.wim", "Lab PE").await;
        let catalog = s.domain.for_actor(&s.admin).catalog();
        // No runner: the verification stays queued.
        let optimize = catalog
            .service(ImageKind::Boot, id, ImageAction::Verify)
            .await
            .expect("verify");
        let apply = s.domain.for_actor(&s.admin).boot_drivers().apply(id).await;
        let message = match apply {
            Err(Error::Conflict(message)) => message,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            message,
            format!("Verify image is queued on this image: job {optimize}")
        );
        let verify = catalog
            .service(ImageKind::Boot, id, ImageAction::Verify)
            .await;
        assert!(conflict(verify).contains(&format!("job {optimize}")));
        // Nor may a rollback change the image under it.
        let rollback = s
            .domain
            .for_actor(&s.admin)
            .boot_images()
            .rollback(id, 1)
            .await
            .map(i64::from);
        assert!(conflict(rollback).contains(&format!("job {optimize}")));
        let image = s.domain.catalog().get(id).await.expect("image");
        let delete = catalog
            .delete(ImageKind::Boot, id, image.row_version)
            .await
            .map(|()| 0);
        assert!(conflict(delete).contains(&format!("job {optimize}")));
        // Once it ends, the next one may go.
        s.domain
            .for_actor(&s.admin)
            .jobs()
            .cancel(optimize)
            .await
            .expect("cancel");
        s.domain
            .for_actor(&s.admin)
            .boot_drivers()
            .apply(id)
            .await
            .expect("apply after the verification ended");
    }
}

/// A job commits its new file only over the revision it started from: when another change
/// replaced the file meanwhile, the job fails with a conflict and its output goes.
#[tokio::test]
async fn a_job_whose_image_changed_meanwhile_fails_and_leaves_nothing() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let id = s.import(ImageKind::Boot, "boot_amd64.wim", "Lab PE").await;
        let before = s.domain.catalog().get(id).await.expect("image");
        let store = before.file_path.parent().expect("store").to_path_buf();
        let files_before = std::fs::read_dir(&store).expect("store").count();
        // Another writer replaces the file while the job ends: inside the job's own final
        // transaction, as late as a race could be.
        let bump =
            format!("UPDATE images SET content_revision = content_revision + 1 WHERE id = {id}");
        match backend {
            Backend::Sqlite => {
                s.sql(&format!(
                    "CREATE TRIGGER race AFTER UPDATE OF state ON jobs \
                     WHEN NEW.state = 'succeeded' AND NEW.kind = 'boot-image-build' \
                     BEGIN {bump}; END"
                ))
                .await
            }
            Backend::Postgres => {
                s.sql(&format!(
                    "CREATE FUNCTION race() RETURNS trigger AS $$ BEGIN {bump}; RETURN NEW; END $$ LANGUAGE plpgsql"
                ))
                .await;
                s.sql(
                    "CREATE TRIGGER race AFTER UPDATE OF state ON jobs FOR EACH ROW \
                     WHEN (NEW.state = 'succeeded' AND NEW.kind = 'boot-image-build') \
                     EXECUTE FUNCTION race()",
                )
                .await
            }
        }
        s.start_runner();
        let boot = s.domain.for_actor(&s.admin).boot_images();
        boot.customize(
            id,
            domain::boot::access::CustomizationEdit {
                command_support: true,
                expected_recipe_version: 1,
                ..Default::default()
            },
            false,
        )
        .await
        .expect("customize");
        let job = boot.build(id).await.expect("build");
        let job = wait_until_final(&s.domain, job, LONG).await;
        assert_eq!(job.state, JobState::Failed, "{job:?}");
        assert!(
            job.error
                .as_deref()
                .is_some_and(|e| e.contains("replaced by another change")),
            "{:?}",
            job.error
        );
        s.stop_runner().await;
        let after = s.domain.catalog().get(id).await.expect("image");
        assert_eq!(after.file_path, before.file_path);
        assert_eq!(after.content_revision, before.content_revision);
        assert!(after.file_path.is_file());
        assert_eq!(
            std::fs::read_dir(&store).expect("store").count(),
            files_before,
            "the job's output was left in the store"
        );
        let revisions = s
            .domain
            .boot_images()
            .revisions(&after)
            .await
            .expect("revisions");
        assert_eq!(revisions.len(), 1, "a revision of a build that failed");
    }
}

/// Two rows never share a file: a path the catalog holds in place cannot be added again, so
/// deleting one row can never take another's file.
#[tokio::test]
async fn a_file_in_the_catalog_is_not_added_twice() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let first = s.import(ImageKind::Os, "install.wim", "Windows 11").await;
        let again = s
            .domain
            .for_actor(&s.admin)
            .catalog()
            .import(s.request(ImageKind::Os, "install.wim", "Windows 11 again"))
            .await;
        match again {
            Err(Error::InvalidInput { message, .. }) => {
                assert!(message.contains("in the catalog already"), "{message}");
                // Not named: whoever asks may not be allowed to read the image.
                assert!(!message.contains("Windows 11"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let image = s.domain.catalog().get(first).await.expect("image");
        assert!(image.file_path.is_file());
    }
}

/// An upload is its owner's: another user can name it neither by id nor by its path.
#[tokio::test]
async fn uploads_are_usable_by_their_owner_only() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let owner = s
            .user("uploader", Role::OperatingSystemDeploymentManager)
            .await;
        let other = s
            .user("other", Role::OperatingSystemDeploymentManager)
            .await;
        let boot = std::fs::read(s.root.join("boot_amd64.wim")).expect("read");
        let uploads = s.domain.for_actor(&owner).uploads();
        let upload = uploads
            .begin("boot_amd64.wim", boot.len() as u64)
            .await
            .expect("begin");
        let done = uploads
            .receive(&upload.id, 0, &boot[..])
            .await
            .expect("upload");
        assert!(done.complete());
        let request = |source: String| ImportRequest {
            kind: ImageKind::Boot,
            source,
            index: None,
            name: Some("From an upload".into()),
            version: String::new(),
            comment: String::new(),
            architecture: None,
            language: None,
        };
        let by_id = format!("upload:{}", done.id);
        for source in [by_id.clone(), done.path.display().to_string()] {
            let refused = s
                .domain
                .for_actor(&other)
                .catalog()
                .import(request(source.clone()))
                .await;
            assert!(
                matches!(refused, Err(Error::InvalidInput { .. })),
                "{source}: {refused:?}"
            );
        }
        // Not even its owner names it by path: the uploads folder is no source root.
        let by_path = s
            .domain
            .for_actor(&owner)
            .catalog()
            .import(request(done.path.display().to_string()))
            .await;
        assert!(
            matches!(by_path, Err(Error::InvalidInput { .. })),
            "{by_path:?}"
        );
        assert!(done.path.is_file(), "a refused import consumed the upload");
        s.start_runner();
        let job = s
            .domain
            .for_actor(&owner)
            .catalog()
            .import(request(by_id))
            .await
            .expect("the owner imports it");
        let job = wait_until_final(&s.domain, job, LONG).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        s.stop_runner().await;
    }
}

/// A retry, a job started from the jobs page and a schedule take what starting their kind
/// takes on its object: job rights alone do not create images.
#[tokio::test]
async fn retries_and_schedules_take_what_their_kind_takes() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let infra = s.user("infra", Role::InfrastructureAdministrator).await;
        // A Full Administrator's import that fails: its source goes before it runs.
        let source = s.root.join("doomed.wim");
        std::fs::copy(s.root.join("boot_amd64.wim"), &source).expect("copy");
        let job = s
            .domain
            .for_actor(&s.admin)
            .catalog()
            .import(s.request(ImageKind::Boot, "doomed.wim", "Doomed"))
            .await
            .expect("queued");
        std::fs::remove_file(&source).expect("remove");
        s.start_runner();
        let failed = wait_until_final(&s.domain, job, LONG).await;
        assert_eq!(failed.state, JobState::Failed);
        std::fs::copy(s.root.join("boot_amd64.wim"), &source).expect("copy back");

        let refused = s.domain.for_actor(&infra).jobs().retry(job).await;
        assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
        let schedule = s
            .domain
            .for_actor(&infra)
            .jobs()
            .create_schedule(NewSchedule {
                name: "nightly import".into(),
                kind: failed.kind.clone(),
                params: failed.params.clone(),
                spec: ScheduleSpec::Interval(3600),
            })
            .await;
        assert!(matches!(schedule, Err(Error::Forbidden(_))), "{schedule:?}");

        // The one who may create images retries it; the retry is audited as that change.
        let retried = s
            .domain
            .for_actor(&s.admin)
            .jobs()
            .retry(job)
            .await
            .expect("retry");
        let retried = wait_until_final(&s.domain, retried, LONG).await;
        assert_eq!(retried.state, JobState::Succeeded, "{:?}", retried.error);
        s.stop_runner().await;
        let entries = s
            .domain
            .for_actor(&s.admin)
            .audit()
            .search(&Default::default(), None, 50)
            .await
            .expect("audit");
        assert!(
            entries.iter().any(|e| e.operation == "create"
                && e.object_type == "boot-image"
                && e.changes.get("retry of job").is_some()),
            "{entries:#?}"
        );
        assert_eq!(
            s.domain
                .catalog()
                .list(ImageKind::Boot)
                .await
                .expect("list")
                .len(),
            1
        );
    }
}

/// Changing or resetting a password, disabling a user and removing a role end their API
/// tokens and sessions.
#[tokio::test]
async fn credentials_end_when_access_changes() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let user = s.user("ops", Role::OperatingSystemDeploymentManager).await;
        let security = s.domain.for_actor(&s.admin).security();
        let new_token = || async {
            s.domain
                .for_actor(
                    &s.domain
                        .accounts()
                        .actor(user.user_id)
                        .await
                        .expect("actor"),
                )
                .api_tokens()
                .create("automation", 30, None)
                .await
                .expect("token")
                .secret
        };
        let domain = &s.domain;
        let works = |secret: String| async move {
            domain
                .api_tokens()
                .resolve(&secret, None)
                .await
                .expect("resolve")
                .is_some()
        };

        let token = new_token().await;
        assert!(works(token.clone()).await);
        security
            .reset_password(user.user_id, "another long passphrase")
            .await
            .expect("reset");
        assert!(!works(token).await, "a token survived a password reset");

        let token = new_token().await;
        let roles = security.roles().await.expect("roles");
        let auditor = roles
            .iter()
            .find(|r| r.slug.as_deref() == Some(Role::Auditor.slug()))
            .expect("auditor")
            .id;
        security
            .assign(user.user_id, auditor, ScopeSet::All)
            .await
            .expect("assign");
        let info = security.users().await.expect("users");
        let assignment = info
            .iter()
            .find(|u| u.id == user.user_id)
            .and_then(|u| u.assignments.iter().find(|a| a.role_id == auditor))
            .expect("assignment")
            .id;
        security.unassign(assignment).await.expect("unassign");
        assert!(
            !works(token).await,
            "a token survived the removal of a role"
        );

        let token = new_token().await;
        security
            .set_disabled(user.user_id, true)
            .await
            .expect("disable");
        security
            .set_disabled(user.user_id, false)
            .await
            .expect("enable");
        assert!(!works(token).await, "a token survived disabling its user");
    }
}

/// Two Full Administrators disabling each other at the same moment: one of them stays.
#[tokio::test]
async fn the_last_full_administrator_survives_a_race() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let other = s.user("admin2", Role::FullAdministrator).await;
        for round in 0..5 {
            let (mine, theirs) = (s.domain.for_actor(&s.admin), s.domain.for_actor(&other));
            let (mine, theirs) = (mine.security(), theirs.security());
            let (a, b) = tokio::join!(
                mine.set_disabled(other.user_id, true),
                theirs.set_disabled(s.admin.user_id, true),
            );
            assert!(
                a.is_ok() != b.is_ok(),
                "round {round}: both or neither succeeded: {a:?} {b:?}"
            );
            // Enable both again for the next round.
            let enabler = if a.is_ok() { &s.admin } else { &other };
            let disabled = if a.is_ok() { &other } else { &s.admin };
            s.domain
                .for_actor(enabler)
                .security()
                .set_disabled(disabled.user_id, false)
                .await
                .expect("enable");
        }
    }
}

/// A change and its audit entry commit together: when the entry cannot be written, the
/// change is not made either.
#[tokio::test]
async fn a_change_without_its_audit_entry_does_not_happen() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let id = s.import(ImageKind::Boot, "boot_amd64.wim", "Lab PE").await;
        match backend {
            Backend::Sqlite => {
                s.sql(
                    "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log \
                     BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END",
                )
                .await
            }
            Backend::Postgres => {
                s.sql(
                    "CREATE FUNCTION audit_down() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit log unavailable'; END $$ LANGUAGE plpgsql",
                )
                .await;
                s.sql(
                    "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_down()",
                )
                .await
            }
        }
        let image = s.domain.catalog().get(id).await.expect("image");
        let edit = s
            .domain
            .for_actor(&s.admin)
            .catalog()
            .edit(
                ImageKind::Boot,
                id,
                ImageEdit {
                    name: "Renamed".into(),
                    version: image.version.clone(),
                    comment: image.comment.clone(),
                    architecture: None,
                    language: None,
                    expected_row_version: image.row_version,
                },
            )
            .await;
        assert!(edit.is_err(), "the edit succeeded without its audit entry");
        assert_eq!(
            s.domain.catalog().get(id).await.expect("image").name,
            "Lab PE"
        );
        let scope = s
            .domain
            .for_actor(&s.admin)
            .security()
            .create_scope("Lab", "")
            .await;
        assert!(scope.is_err());
        let scopes = s
            .domain
            .for_actor(&s.admin)
            .security()
            .scopes()
            .await
            .expect("scopes");
        assert!(scopes.iter().all(|sc| sc.name != "Lab"), "{scopes:?}");
    }
}

/// Users made from the server's shell are recorded as the local administrator.
#[tokio::test]
async fn the_command_line_is_audited_as_the_local_administrator() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let entries = s
            .domain
            .for_actor(&s.admin)
            .audit()
            .search(&Default::default(), None, 10)
            .await
            .expect("audit");
        let created = entries
            .iter()
            .find(|e| e.object_name == "admin" && e.operation == "create")
            .expect("the user add is audited");
        assert_eq!(created.username, "local administrator");
        assert_eq!(created.detail, "wimdeck user add");
        let verified = s.domain.audit().verify().await.expect("verify");
        assert_eq!(verified.broken_at, None);
    }
}

/// The driver of a package in another scope cannot be put into an image, nor read, and a
/// driver's users name only images the caller may read.
#[tokio::test]
async fn drivers_take_their_packages_scopes() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let security = s.domain.for_actor(&s.admin).security();
        let (lab_user, _, production) = s
            .lab_user("labosd", Role::OperatingSystemDeploymentManager)
            .await;

        // A Production driver package, in use by a Production boot image.
        let package = fixtures::drivers::DriverPackage::network("prodnic", &[Arch::Amd64]);
        package.write(&s.root.join("prodnic")).expect("driver");
        s.start_runner();
        let package_id = s.import_drivers(&s.admin, "prodnic", &[]).await["package_id"]
            .as_i64()
            .expect("package");
        let image = s
            .import(ImageKind::Boot, "boot_amd64.wim", "Production PE")
            .await;
        s.stop_runner().await;
        for (object, id) in [
            (domain::authz::ObjectType::DriverPackage, package_id),
            (domain::authz::ObjectType::BootImage, image),
        ] {
            security
                .set_object_scopes(object, id, &[production].into())
                .await
                .expect("to production");
        }
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
        s.domain
            .for_actor(&s.admin)
            .boot_drivers()
            .add(image, &[driver.id])
            .await
            .expect("production admin adds it");

        let theirs = s.domain.for_actor(&lab_user);
        assert!(
            theirs
                .drivers()
                .list(&Default::default())
                .await
                .expect("list")
                .drivers
                .is_empty(),
            "a Lab user lists Production drivers"
        );
        assert!(matches!(
            theirs.drivers().get(driver.id).await,
            Err(Error::NotFound(_))
        ));
        // Their own Lab image cannot take the Production driver.
        let lab_image = {
            s.start_runner();
            let job = theirs
                .catalog()
                .import(s.request(ImageKind::Boot, "boot_amd64.wim", "Lab PE"))
                .await
                .expect("lab import");
            let job = wait_until_final(&s.domain, job, LONG).await;
            s.stop_runner().await;
            job.result.expect("result")["image_id"]
                .as_i64()
                .expect("id")
        };
        let added = theirs.boot_drivers().add(lab_image, &[driver.id]).await;
        assert!(matches!(added, Err(Error::NotFound(_))), "{added:?}");
        // A Lab-and-Production reader sees the driver's users only where they may look.
        let (_, users) = s
            .domain
            .for_actor(&s.admin)
            .drivers()
            .get(driver.id)
            .await
            .expect("get");
        assert_eq!(users.len(), 1);
    }
}

/// Jobs on objects a user may not read are listed without what names them, and their logs
/// are refused.
#[tokio::test]
async fn jobs_on_objects_out_of_scope_say_nothing_of_them() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let security = s.domain.for_actor(&s.admin).security();
        let (lab_user, _, production) = s.lab_user("labreader", Role::ReadOnlyAnalyst).await;
        let image = s
            .import(ImageKind::Boot, "boot_amd64.wim", "Secret PE")
            .await;
        security
            .set_object_scopes(
                domain::authz::ObjectType::BootImage,
                image,
                &[production].into(),
            )
            .await
            .expect("to production");
        let job = s
            .domain
            .for_actor(&s.admin)
            .catalog()
            .service(ImageKind::Boot, image, ImageAction::Verify)
            .await
            .expect("verify");
        let jobs = s.domain.for_actor(&lab_user).jobs();
        let listed = jobs
            .list(&Default::default(), Default::default(), 50)
            .await
            .expect("list")
            .jobs;
        let text = format!("{listed:?}");
        assert!(!text.contains("Secret PE"), "{text}");
        assert!(!text.contains("boot_amd64.wim"), "{text}");
        let shown = jobs.get(job).await.expect("get");
        assert_eq!(
            shown.target.map(|t| t.label).as_deref(),
            Some("(outside your security scopes)")
        );
        assert!(matches!(
            jobs.log(job, None, 10).await,
            Err(Error::Forbidden(_))
        ));
        // Those who may read the image see it all.
        let full = s
            .domain
            .for_actor(&s.admin)
            .jobs()
            .get(job)
            .await
            .expect("get");
        assert_eq!(full.target.map(|t| t.label).as_deref(), Some("Secret PE"));
    }
}

/// The start-up sweep leaves the temporary files of a job that is still queued or running
/// (another process's, or one about to resume) and removes those of jobs that ended.
#[tokio::test]
async fn the_sweep_spares_the_temporary_files_of_active_jobs() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let queued = s
            .domain
            .for_actor(&s.admin)
            .jobs()
            .start(domain::jobs::NewJob::new(
                "storage-check",
                serde_json::json!({ "size_mib": 1 }),
            ))
            .await
            .expect("queued");
        let dir = domain::catalog::store::store_dir(&s.domain, ImageKind::Boot);
        std::fs::create_dir_all(&dir).expect("store");
        let active = dir.join(format!(".a.wim.wimdeck-tmp-j{queued}-abc"));
        let ended = dir.join(".b.wim.wimdeck-tmp-j999999-abc");
        let anonymous = dir.join(".c.wim.wimdeck-tmp-abc");
        for file in [&active, &ended, &anonymous] {
            std::fs::write(file, b"half").expect("write");
        }
        let report = domain::catalog::store::sweep(&s.domain)
            .await
            .expect("sweep");
        assert!(active.exists(), "the queued job's file was swept");
        assert!(!ended.exists() && !anonymous.exists());
        assert_eq!(report.temporary_files.len(), 2, "{report:?}");
    }
}

/// Cancelling a job and changing schedules are audited with the change.
#[tokio::test]
async fn job_control_and_schedules_are_audited() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let jobs = s.domain.for_actor(&s.admin).jobs();
        let job = jobs
            .start(domain::jobs::NewJob::new(
                "storage-check",
                serde_json::json!({ "size_mib": 1 }),
            ))
            .await
            .expect("queued");
        jobs.cancel(job).await.expect("cancel");
        let schedule = jobs
            .create_schedule(NewSchedule {
                name: "nightly check".into(),
                kind: "storage-check".into(),
                params: serde_json::json!({ "size_mib": 1 }),
                spec: ScheduleSpec::Interval(86_400),
            })
            .await
            .expect("schedule");
        jobs.set_schedule_enabled(schedule, false)
            .await
            .expect("disable");
        jobs.delete_schedule(schedule).await.expect("delete");
        let entries = s
            .domain
            .for_actor(&s.admin)
            .audit()
            .search(
                &domain::audit::Filter {
                    object_type: Some(domain::authz::ObjectType::Job),
                    ..Default::default()
                },
                None,
                20,
            )
            .await
            .expect("audit");
        let changes: Vec<String> = entries
            .iter()
            .rev()
            .map(|e| {
                let fields: Vec<&String> = e
                    .changes
                    .as_object()
                    .map(|o| o.keys().collect())
                    .unwrap_or_default();
                format!("{} {} {fields:?}", e.operation, e.object_name)
            })
            .collect();
        assert_eq!(changes.len(), 5, "{changes:#?}");
        assert!(changes[1].contains("cancel"), "{changes:#?}");
        assert!(changes[2].contains("nightly check"), "{changes:#?}");
        assert!(changes[3].contains("enabled"), "{changes:#?}");
        assert!(changes[4].contains("schedule"), "{changes:#?}");
    }
}
