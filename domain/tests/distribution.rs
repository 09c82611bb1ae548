//! Distribution to DPs through the site's protocol handlers and the real agent (in process
//! here; over HTTP in the server's tests): enrollment, distribute, update with only the
//! changed chunks, validate, redistribute, remove, revocation, groups and permissions.

use std::{collections::BTreeSet, path::Path, sync::Arc, time::Duration};

use domain::{
    Actor, Domain, Error,
    authz::ObjectType,
    catalog::{
        ImageKind,
        kinds::{ImageAction, ImportRequest},
    },
    content::{ChunkRef, ContentObject},
    distribution::{
        actions::Targets,
        agent::{Agent, AgentOptions, ChunkStream, SiteClient},
        assign::DistState,
        points::{DpHealth, DpReport, DpSettings, NewDp},
        protocol::{
            ChunksRequest, DemandRequest, DemandResponse, EnrollRequest, PROTOCOL, PollRequest,
            PollResponse, StatusReport, WorkAction,
        },
    },
    fixtures::{self, Arch, WindowsTree},
    jobs::{BoxFuture, JobState, NewJob, Runner},
    testing::{BACKENDS, Backend, TestDb, fast_runner_options, wait_until_final},
    wim::Compression,
};
use tokio_util::sync::CancellationToken;

const LONG: Duration = Duration::from_secs(90);

/// The agent's transport, calling the site's handlers directly with the DP's credential.
struct InProcess {
    domain: Domain,
    credential: String,
}

impl InProcess {
    pub(crate) async fn dp(
        &self,
    ) -> domain::Result<domain::distribution::points::DistributionPoint> {
        self.domain.dp_site().authenticate(&self.credential).await
    }
}

impl SiteClient for InProcess {
    fn poll<'a>(&'a self, request: &'a PollRequest) -> BoxFuture<'a, domain::Result<PollResponse>> {
        Box::pin(async move {
            let dp = self.dp().await?;
            self.domain.dp_site().poll(&dp, request.clone()).await
        })
    }

    fn manifest<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, domain::Result<Vec<u8>>> {
        Box::pin(async move {
            let dp = self.dp().await?;
            self.domain.dp_site().manifest(&dp, sha256).await
        })
    }

    fn chunks<'a>(
        &'a self,
        request: &'a ChunksRequest,
    ) -> BoxFuture<'a, domain::Result<ChunkStream>> {
        Box::pin(async move {
            let dp = self.dp().await?;
            let plan: Vec<ChunkRef> = self.domain.dp_site().chunk_plan(&dp, request).await?;
            let store = self.domain.content().store();
            let mut bytes = Vec::new();
            for chunk in &plan {
                bytes.extend(store.read_chunk(chunk)?);
            }
            // In frames of 64 KiB, as a response arrives.
            let frames: Vec<std::io::Result<bytes::Bytes>> = bytes
                .chunks(64 * 1024)
                .map(|f| Ok(bytes::Bytes::copy_from_slice(f)))
                .collect();
            Ok(Box::pin(futures::stream::iter(frames)) as ChunkStream)
        })
    }

    fn report<'a>(&'a self, report: &'a StatusReport) -> BoxFuture<'a, domain::Result<()>> {
        Box::pin(async move {
            let dp = self.dp().await?;
            self.domain.dp_site().report(&dp, report.clone()).await
        })
    }

    fn demand<'a>(
        &'a self,
        request: &'a DemandRequest,
    ) -> BoxFuture<'a, domain::Result<DemandResponse>> {
        Box::pin(async move {
            let dp = self.dp().await?;
            self.domain.dp_site().demand(&dp, request).await
        })
    }
}

pub(crate) struct Setup {
    pub(crate) domain: Domain,
    pub(crate) runner: Option<Runner>,
    pub(crate) admin: Actor,
    pub(crate) osd: Actor,
    pub(crate) analyst: Actor,
    pub(crate) root: std::path::PathBuf,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

impl Setup {
    pub(crate) async fn new(backend: Backend) -> Self {
        let db = TestDb::create(backend).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("sources");
        std::fs::create_dir_all(&root).expect("root");
        let mut config = db.config();
        config.images.source_roots = vec![root.clone()];
        let domain = Domain::open(&config).await.expect("open");
        let (osd, analyst) = crate::osd_and_analyst(&domain).await;
        let id = domain
            .accounts()
            .create_user("admin", crate::PASSWORD, &[domain::Role::FullAdministrator])
            .await
            .expect("admin");
        let admin = domain.accounts().actor(id).await.expect("actor");
        let runner = Some(Runner::start(&domain, fast_runner_options()));
        Self {
            domain,
            runner,
            admin,
            osd,
            analyst,
            root,
            _db: db,
            _dir: dir,
        }
    }

    pub(crate) async fn os_image(&self, name: &str) -> i64 {
        let tree_dir = self.root.join("tree");
        let mut tree = WindowsTree::windows11(Arch::Amd64, "Professional", "Windows 11 Pro");
        for n in 0..8 {
            tree.files
                .push((format!("Windows/System32/drivers/d{n}.sys"), 300_000));
        }
        tree.write(&tree_dir).expect("tree");
        let wim = self.root.join(format!("{name}.wim"));
        fixtures::capture_images(&[(&tree_dir, "Windows 11 Pro")], &wim, None).expect("capture");
        let job = self
            .domain
            .for_actor(&self.admin)
            .catalog()
            .import(ImportRequest {
                kind: ImageKind::Os,
                source: wim.display().to_string(),
                index: None,
                name: Some(name.into()),
                version: String::new(),
                comment: String::new(),
                architecture: None,
                language: None,
            })
            .await
            .expect("import");
        let job = wait_until_final(&self.domain, job, LONG).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        job.result.expect("result")["image_id"]
            .as_i64()
            .expect("id")
    }

    /// A remote DP, enrolled; its agent with a data directory of its own.
    pub(crate) async fn dp(&self, name: &str) -> (i64, Arc<Agent>, tempfile::TempDir, String) {
        let points = self.domain.for_actor(&self.admin).distribution_points();
        let id = points
            .create(NewDp {
                name: name.into(),
                settings: DpSettings::default(),
            })
            .await
            .expect("create");
        let (token, _) = points.enrollment_token(id).await.expect("token");
        let enrolled = self
            .domain
            .dp_site()
            .enroll(EnrollRequest {
                protocol: PROTOCOL,
                token: token.clone(),
                report: DpReport::default(),
            })
            .await
            .expect("enroll");
        assert_eq!(enrolled.dp_id, id);
        // The token is used up.
        let again = self
            .domain
            .dp_site()
            .enroll(EnrollRequest {
                protocol: PROTOCOL,
                token,
                report: DpReport::default(),
            })
            .await
            .expect_err("used");
        assert!(
            again.to_string().contains("not a valid enrollment token"),
            "{again}"
        );
        let data = tempfile::tempdir().expect("dp dir");
        let agent = agent_with(&self.domain, &enrolled.credential, data.path());
        (id, agent, data, enrolled.credential)
    }

    /// Sends the object to one DP as `actor`, and waits for the job that assigns it.
    pub(crate) async fn distribute_to(&self, actor: &Actor, object: ContentObject, dp: i64) {
        let job = self
            .domain
            .for_actor(actor)
            .distribution()
            .distribute(
                object,
                Targets {
                    dps: vec![dp],
                    groups: vec![],
                },
            )
            .await
            .expect("distribute");
        self.wait_job(job).await;
    }

    /// Deletes an OS image as the administrator.
    pub(crate) async fn delete_os_image(&self, id: i64) {
        let row_version = self
            .domain
            .catalog()
            .get(id)
            .await
            .expect("image")
            .row_version;
        self.domain
            .for_actor(&self.admin)
            .catalog()
            .delete(ImageKind::Os, id, row_version)
            .await
            .expect("delete");
    }

    pub(crate) async fn wait_job(&self, id: i64) {
        let job = wait_until_final(&self.domain, id, LONG).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    }

    pub(crate) async fn stop(mut self) {
        if let Some(runner) = self.runner.take() {
            runner.shutdown().await;
        }
    }
}

/// An agent in `dir` speaking to the site in process with `credential`.
pub(crate) fn agent_with(domain: &Domain, credential: &str, dir: &Path) -> Arc<Agent> {
    let client = Arc::new(InProcess {
        domain: domain.clone(),
        credential: credential.to_owned(),
    });
    let mut options = AgentOptions::new(dir);
    options.poll_wait_secs = 0;
    Agent::new(client, options)
}

/// One poll's worth of work for the agent, done.
pub(crate) async fn sync(agent: &Arc<Agent>, credential_domain: &Domain, dp: i64) {
    let point = credential_domain
        .distribution_points()
        .get(dp)
        .await
        .expect("dp");
    let response = credential_domain
        .dp_site()
        .poll(
            &point,
            PollRequest {
                protocol: PROTOCOL,
                report: DpReport::default(),
                wait_secs: 0,
                busy: Vec::new(),
                prestaged: domain::distribution::agent::prestaged::available(agent.layout()),
            },
        )
        .await
        .expect("poll");
    agent.work(response, &CancellationToken::new()).await;
}

pub(crate) fn installed_file(data: &Path, content_id: i64) -> std::path::PathBuf {
    data.join("content")
        .join(content_id.to_string())
        .join("current")
        .join("install.wim")
}

#[tokio::test]
async fn content_reaches_dps_verified_and_only_changes_travel_after_that() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let image = s.os_image("Pro").await;
        let object = ContentObject::new(ObjectType::OsImage, image);
        let (dp, agent, data, _) = s.dp("Branch 1").await;

        // "This server" exists from the first start.
        let points = s.domain.distribution_points().list().await.expect("list");
        assert!(points.iter().any(|p| p.name == "This server"));
        assert_eq!(
            s.domain
                .distribution_points()
                .get(dp)
                .await
                .expect("dp")
                .health,
            DpHealth::Online
        );

        s.distribute_to(&s.osd, object, dp).await;
        let status = s.domain.for_actor(&s.osd).distribution_status();
        let pairs = status.pairs(Some(object), None).await.expect("pairs");
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].state, DistState::Waiting);

        sync(&agent, &s.domain, dp).await;
        let pair = &status.pairs(Some(object), None).await.expect("pairs")[0];
        assert_eq!(pair.state, DistState::Success, "{:?}", pair.detail);
        assert_eq!(pair.installed_version, Some(1));
        let catalog = s.domain.catalog().get(image).await.expect("image");
        assert_eq!(pair.bytes_needed, Some(catalog.file_bytes));
        let content_id = pair.content_id;
        let file = installed_file(data.path(), content_id);
        assert_eq!(
            domain::fsx::sha256_file(&file).expect("sha"),
            catalog.sha256
        );

        // A new version after an optimization: only its changed chunks travel.
        let job = s
            .domain
            .for_actor(&s.admin)
            .catalog()
            .service(
                ImageKind::Os,
                image,
                ImageAction::Optimize {
                    compression: Compression::Lzx,
                },
            )
            .await
            .expect("optimize");
        s.wait_job(job).await;
        let job = s
            .domain
            .for_actor(&s.osd)
            .distribution()
            .update(object)
            .await
            .expect("update");
        s.wait_job(job).await;
        sync(&agent, &s.domain, dp).await;
        let pair = &status.pairs(Some(object), None).await.expect("pairs")[0];
        assert_eq!(pair.state, DistState::Success, "{:?}", pair.detail);
        let optimized = s.domain.catalog().get(image).await.expect("image");
        assert_eq!(pair.installed_version, Some(2));
        assert_eq!(
            domain::fsx::sha256_file(&installed_file(data.path(), content_id)).expect("sha"),
            optimized.sha256
        );
        assert!(
            !data
                .path()
                .join("content")
                .join(content_id.to_string())
                .join("v1")
                .exists(),
            "the replaced version is gone"
        );

        // A flipped byte: Validate reports it, Redistribute heals it.
        let file = installed_file(data.path(), content_id);
        let mut bytes = std::fs::read(&file).expect("read");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        std::fs::write(&file, &bytes).expect("write");
        s.domain
            .for_actor(&s.osd)
            .distribution()
            .on_dp(object, dp, WorkAction::Validate)
            .await
            .expect("validate");
        sync(&agent, &s.domain, dp).await;
        let pair = &status.pairs(Some(object), None).await.expect("pairs")[0];
        assert_eq!(pair.state, DistState::ValidationFailed);
        let detail = pair.detail.clone().unwrap_or_default();
        assert!(
            detail.contains("install.wim: SHA-256 differs (1 of"),
            "{detail}"
        );
        s.domain
            .for_actor(&s.osd)
            .distribution()
            .on_dp(object, dp, WorkAction::Redistribute)
            .await
            .expect("redistribute");
        sync(&agent, &s.domain, dp).await;
        let pair = &status.pairs(Some(object), None).await.expect("pairs")[0];
        assert_eq!(pair.state, DistState::Success, "{:?}", pair.detail);
        assert!(
            pair.bytes_needed.unwrap_or(u64::MAX) <= 1024 * 1024,
            "only the damaged chunk travels: {:?}",
            pair.bytes_needed
        );
        assert_eq!(
            domain::fsx::sha256_file(&installed_file(data.path(), content_id)).expect("sha"),
            optimized.sha256
        );

        // The history tells the story, newest first.
        let history = status.history(object, dp, 50).await.expect("history");
        assert!(history.len() >= 8, "{history:?}");
        assert_eq!(history[0].state, DistState::Success);

        // Remove: the DP deletes it, the pair goes.
        s.domain
            .for_actor(&s.osd)
            .distribution()
            .on_dp(object, dp, WorkAction::Remove)
            .await
            .expect("remove");
        sync(&agent, &s.domain, dp).await;
        assert!(
            status
                .pairs(Some(object), None)
                .await
                .expect("pairs")
                .is_empty()
        );
        assert!(
            !data
                .path()
                .join("content")
                .join(content_id.to_string())
                .exists()
        );

        // The library keeps what DPs hold; collection may now take version 1.
        let report = s
            .domain
            .content()
            .collect(&Default::default(), 0)
            .await
            .expect("collect");
        assert_eq!(report.versions, 1);
        s.stop().await;
    }
}

#[tokio::test]
async fn distribution_needs_the_right_on_content_and_dp_and_revoked_dps_are_refused() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let image = s.os_image("Pro").await;
        let object = ContentObject::new(ObjectType::OsImage, image);
        let (dp, _agent, _data, credential) = s.dp("Branch 1").await;
        let targets = Targets {
            dps: vec![dp],
            groups: vec![],
        };

        // A Read-only Analyst distributes nothing.
        let err = s
            .domain
            .for_actor(&s.analyst)
            .distribution()
            .distribute(object, targets.clone())
            .await
            .expect_err("analyst");
        assert!(matches!(err, Error::Forbidden(_)), "{err}");

        // Nor does an OS Deployment Manager to a DP outside their scopes, though they may
        // distribute the content.
        let (lab, lab_osd) = crate::lab_osd(&s.domain, &s.admin).await;
        let security = s.domain.for_actor(&s.admin).security();
        security
            .set_object_scopes(ObjectType::OsImage, image, &BTreeSet::from([lab]))
            .await
            .expect("image to lab");
        let err = s
            .domain
            .for_actor(&lab_osd)
            .distribution()
            .distribute(object, targets.clone())
            .await
            .expect_err("dp outside the scopes");
        assert!(
            err.to_string().contains("outside your security scopes"),
            "{err}"
        );
        security
            .set_object_scopes(ObjectType::DistributionPoint, dp, &BTreeSet::from([lab]))
            .await
            .expect("dp to lab");
        let job = s
            .domain
            .for_actor(&lab_osd)
            .distribution()
            .distribute(object, targets.clone())
            .await
            .expect("both in scope");
        s.wait_job(job).await;
        // The analyst sees the DP's status but changes nothing.
        let err = s
            .domain
            .for_actor(&s.analyst)
            .distribution()
            .on_dp(object, dp, WorkAction::Redistribute)
            .await
            .expect_err("analyst");
        assert!(matches!(err, Error::Forbidden(_)), "{err}");

        // Revoked: refused at once.
        s.domain
            .for_actor(&s.admin)
            .distribution_points()
            .revoke(dp)
            .await
            .expect("revoke");
        assert_eq!(
            s.domain
                .distribution_points()
                .get(dp)
                .await
                .expect("dp")
                .health,
            DpHealth::Revoked
        );
        let err = s
            .domain
            .dp_site()
            .authenticate(&credential)
            .await
            .expect_err("revoked");
        assert!(matches!(err, Error::Unauthenticated), "{err}");
        s.stop().await;
    }
}

#[tokio::test]
async fn groups_reach_members_that_join_and_stale_or_mismatched_reports_change_nothing() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let image = s.os_image("Pro").await;
        let object = ContentObject::new(ObjectType::OsImage, image);
        let (dp1, agent1, data1, _) = s.dp("Branch 1").await;
        let (dp2, _agent2, _data2, _) = s.dp("Branch 2").await;
        let groups = s.domain.for_actor(&s.admin).dp_groups();
        let group = groups.create("Branches", "").await.expect("group");
        groups.set_members(group, &[dp1]).await.expect("members");

        let job = s
            .domain
            .for_actor(&s.osd)
            .distribution()
            .distribute(
                object,
                Targets {
                    dps: vec![],
                    groups: vec![group],
                },
            )
            .await
            .expect("distribute");
        s.wait_job(job).await;
        let status = s.domain.for_actor(&s.admin).distribution_status();
        let dps_of = |pairs: Vec<domain::distribution::status::PairStatus>| {
            pairs.iter().map(|p| p.dp_id).collect::<Vec<_>>()
        };
        assert_eq!(
            dps_of(status.pairs(Some(object), None).await.expect("pairs")),
            [dp1]
        );

        // A DP that joins the group receives its content.
        groups.set_members(group, &[dp1, dp2]).await.expect("join");
        let mut joined = dps_of(status.pairs(Some(object), None).await.expect("pairs"));
        joined.sort_unstable();
        assert_eq!(joined, [dp1, dp2]);
        // An analyst changes no group.
        let err = s
            .domain
            .for_actor(&s.analyst)
            .dp_groups()
            .set_members(group, &[dp1])
            .await
            .expect_err("analyst");
        assert!(matches!(err, Error::Forbidden(_)), "{err}");

        sync(&agent1, &s.domain, dp1).await;
        let done = status.pairs(Some(object), Some(dp1)).await.expect("pairs");
        assert_eq!(done[0].state, DistState::Success, "{:?}", done[0].detail);
        assert!(data1.path().join("content").exists());

        // Reports: an older generation changes nothing; a report that does not answer the
        // request is refused.
        let point = s.domain.distribution_points().get(dp2).await.expect("dp");
        let work = s
            .domain
            .dp_site()
            .work_for(&point, &[])
            .await
            .expect("work");
        let item = &work[0];
        let report = |generation, state| StatusReport {
            assignment_id: item.assignment_id,
            generation,
            state,
            version_id: item.version.as_ref().map(|v| v.id),
            bytes_total: None,
            bytes_needed: None,
            bytes_done: 0,
            rate_bps: None,
            detail: None,
        };
        use domain::distribution::protocol::ReportedState;
        s.domain
            .dp_site()
            .report(
                &point,
                report(item.generation - 1, ReportedState::Installed),
            )
            .await
            .expect("stale: ignored");
        let err = s
            .domain
            .dp_site()
            .report(&point, report(item.generation, ReportedState::Removed))
            .await
            .expect_err("not a removal");
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
        let pair = status.pairs(Some(object), Some(dp2)).await.expect("pairs");
        assert_eq!(pair[0].state, DistState::Waiting);
        // Another DP's assignment is not this DP's to report on.
        let other = s.domain.distribution_points().get(dp1).await.expect("dp");
        let err = s
            .domain
            .dp_site()
            .report(&other, report(item.generation, ReportedState::Installed))
            .await
            .expect_err("not its assignment");
        assert!(matches!(err, Error::NotFound(_)), "{err}");

        // Deleting the image takes its content off the DPs; once no DP holds it, the next
        // clean-up forgets it.
        s.delete_os_image(image).await;
        let retire = latest_job(&s.domain, "content-retire").await;
        s.wait_job(retire).await;
        for (dp, agent) in [(dp1, &agent1), (dp2, &_agent2)] {
            sync(agent, &s.domain, dp).await;
        }
        assert!(
            status
                .pairs(Some(object), None)
                .await
                .expect("pairs")
                .is_empty()
        );
        assert!(
            !data1
                .path()
                .join("content")
                .join(done[0].content_id.to_string())
                .exists()
        );
        let collect = s
            .domain
            .jobs()
            .enqueue_as(None, NewJob::new("content-collect", serde_json::json!({})))
            .await
            .expect("collect");
        s.wait_job(collect).await;
        assert!(
            s.domain
                .content()
                .content_of(object)
                .await
                .expect("content")
                .is_none()
        );
        s.stop().await;
    }
}

async fn latest_job(domain: &Domain, kind: &str) -> i64 {
    domain
        .jobs()
        .list(
            &domain::jobs::JobFilter {
                kind: Some(kind.into()),
                ..Default::default()
            },
            domain::jobs::PageCursor::Newest,
            1,
        )
        .await
        .expect("jobs")
        .jobs[0]
        .id
}
