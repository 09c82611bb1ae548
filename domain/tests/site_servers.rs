//! Several site servers sharing one PostgreSQL database: both distributing the same content
//! at once make one version; a DP's long poll on one server answers at once when another
//! assigns it work; pages served by one server hear of what DPs report to another, and both
//! show the same state; "This server"'s DP runs on one of them at a time. On SQLite (one
//! server) the same events stay in the process.

use std::time::Duration;

use domain::{
    Actor, Domain,
    authz::ObjectType,
    content::ContentObject,
    distribution::{
        actions::Targets,
        assign::DistState,
        events::{Change, DistributionEvent},
        points::DpReport,
        protocol::{PROTOCOL, PollRequest},
    },
    jobs::Runner,
    testing::{BACKENDS, Backend, fast_runner_options},
};
use tokio::sync::broadcast;

use crate::distribution::{Setup, agent_with, sync};

const LONG: Duration = Duration::from_secs(60);

/// The next event `wanted` accepts, within [`LONG`].
async fn next_event(
    events: &mut broadcast::Receiver<DistributionEvent>,
    wanted: impl Fn(&DistributionEvent) -> bool,
) -> DistributionEvent {
    tokio::time::timeout(LONG, async {
        loop {
            match events.recv().await {
                Ok(event) if wanted(&event) => return event,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("events closed"),
            }
        }
    })
    .await
    .expect("no such event")
}

#[tokio::test]
async fn two_servers_on_one_database_distribute_as_one() {
    let s = Setup::new(Backend::Postgres).await;
    let image = s.os_image("Pro").await;
    let object = ContentObject::new(ObjectType::OsImage, image);
    let (dp, agent, _data, _) = s.dp("Branch 1").await;
    let (second_dp, _, _, _) = s.dp("Branch 2").await;

    // A second server on the same database, with its own job runner, whose polls would wait
    // ten minutes.
    let mut config = s.domain.config().clone();
    config.distribution.poll_wait_secs = 600;
    let other = Domain::open(&config).await.expect("second server");
    let other_runner = Runner::start(&other, fast_runner_options());
    let mut pages = other.subscribe_distribution();
    let point = other.distribution_points().get(dp).await.expect("dp");
    let poll = tokio::spawn({
        let other = other.clone();
        async move {
            other
                .dp_site()
                .poll(
                    &point,
                    PollRequest {
                        protocol: PROTOCOL,
                        report: DpReport::default(),
                        wait_secs: 600,
                        busy: Vec::new(),
                        prestaged: Vec::new(),
                    },
                )
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!poll.is_finished(), "no work yet: the poll waits");

    // Both servers distribute the same content at once, each to one DP: one version is made,
    // and both DPs are to hold it.
    let (first_job, second_job) = tokio::join!(
        queue_distribution(&s.domain, &s.osd, object, dp),
        queue_distribution(&other, &s.osd, object, second_dp)
    );
    s.wait_job(first_job).await;
    s.wait_job(second_job).await;
    let content = s
        .domain
        .content()
        .content_of(object)
        .await
        .expect("content")
        .expect("in the library")
        .id;
    let versions = s
        .domain
        .content()
        .versions(content)
        .await
        .expect("versions");
    assert_eq!(versions.len(), 1, "{versions:?}");

    // The poll on the second server answered at once with the work the first assigned.
    let response = tokio::time::timeout(LONG, poll)
        .await
        .expect("the poll on the other server was not woken")
        .expect("task")
        .expect("poll");
    assert_eq!(response.work.len(), 1, "{response:?}");
    assert_eq!(response.work[0].content_id, content);
    let work = next_event(&mut pages, |e| e.change == Change::Work && e.dp_id == dp).await;
    assert_eq!(work.dp_id, dp);

    // The DP reports to the first server; the second server's pages hear of it, and both
    // servers see the same state.
    sync(&agent, &s.domain, dp).await;
    let status = next_event(&mut pages, |e| e.change == Change::Status).await;
    assert_eq!((status.dp_id, status.content_id), (dp, Some(content)));
    for domain in [&s.domain, &other] {
        let pairs = domain
            .for_actor(&s.osd)
            .distribution_status()
            .pairs(Some(object), None)
            .await
            .expect("pairs");
        let states: Vec<(i64, DistState)> = pairs.iter().map(|p| (p.dp_id, p.state)).collect();
        assert!(states.contains(&(dp, DistState::Success)), "{states:?}");
        assert!(
            states.contains(&(second_dp, DistState::Waiting)),
            "{states:?}"
        );
    }

    // "This server"'s DP runs on one server at a time; the other takes over when it stops.
    let lease = s
        .domain
        .distribution_points()
        .try_lease_site_dp()
        .await
        .expect("lease");
    assert!(lease.is_some());
    let refused = other
        .distribution_points()
        .try_lease_site_dp()
        .await
        .expect("lease");
    assert!(refused.is_none(), "held by the first server");
    // The first server stops: the database ends its session, and the lock with it.
    drop(lease);
    tokio::time::timeout(LONG, async {
        while other
            .distribution_points()
            .try_lease_site_dp()
            .await
            .expect("lease")
            .is_none()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("never free once the first let go");

    other.begin_shutdown();
    other_runner.shutdown().await;
    s.stop().await;
}

#[tokio::test]
async fn one_server_hears_its_own_events() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let image = s.os_image("Pro").await;
        let object = ContentObject::new(ObjectType::OsImage, image);
        let (dp, agent, _data, _) = s.dp("Branch 2").await;
        let mut pages = s.domain.subscribe_distribution();
        let job = queue_distribution(&s.domain, &s.osd, object, dp).await;
        s.wait_job(job).await;
        let work = next_event(&mut pages, |e| e.change == Change::Work).await;
        assert_eq!(work.dp_id, dp, "{backend:?}");
        sync(&agent, &s.domain, dp).await;
        let status = next_event(&mut pages, |e| e.change == Change::Status).await;
        assert_eq!(status.dp_id, dp, "{backend:?}");
        assert!(status.content_id.is_some());
        s.stop().await;
    }
}

#[tokio::test]
async fn this_servers_dp_is_asked_again_for_what_its_folder_lacks() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let image = s.os_image("Pro").await;
        let object = ContentObject::new(ObjectType::OsImage, image);
        let points = s.domain.distribution_points();
        let (site, credential) = points.issue_site_credential().await.expect("credential");
        let folder = tempfile::tempdir().expect("folder");
        let agent = agent_with(&s.domain, &credential, folder.path());
        let job = queue_distribution(&s.domain, &s.osd, object, site.id).await;
        s.wait_job(job).await;
        sync(&agent, &s.domain, site.id).await;
        assert_eq!(state_on(&s, object, site.id).await, DistState::Success);

        // The folder holds it: nothing to ask.
        let layout = domain::distribution::agent::Layout::new(folder.path());
        assert_eq!(points.reconcile_site_dp(&layout).await.expect("same"), 0);
        // Another server took over with its own, empty folder: asked again, and brought.
        let other = tempfile::tempdir().expect("other folder");
        let layout = domain::distribution::agent::Layout::new(other.path());
        assert_eq!(points.reconcile_site_dp(&layout).await.expect("other"), 1);
        assert_eq!(state_on(&s, object, site.id).await, DistState::Waiting);
        let takeover = agent_with(&s.domain, &credential, other.path());
        sync(&takeover, &s.domain, site.id).await;
        assert_eq!(state_on(&s, object, site.id).await, DistState::Success);
        assert_eq!(points.reconcile_site_dp(&layout).await.expect("again"), 0);
        s.stop().await;
    }
}

async fn state_on(s: &Setup, object: ContentObject, dp: i64) -> DistState {
    s.domain
        .for_actor(&s.osd)
        .distribution_status()
        .pairs(Some(object), Some(dp))
        .await
        .expect("pairs")[0]
        .state
}

/// Queues the distribution of `object` to one DP; returns the job.
async fn queue_distribution(domain: &Domain, actor: &Actor, object: ContentObject, dp: i64) -> i64 {
    domain
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
        .expect("distribute")
}
