//! What a job holds comes from its kind and parameters: the regeneration of the default boot
//! images holds every one of them, a scheduled job holds its image, and what a job does
//! outside the catalog (a schedule firing, a prune, a split) is audited.

use domain::{
    Error, Role,
    catalog::{ImageKind, kinds::ImageAction},
    jobs::{JobState, NewSchedule, ScheduleSpec},
    testing::{BACKENDS, wait_until_final},
};

use super::{LONG, Setup, conflict};

fn verify() -> ImageAction {
    ImageAction::Verify
}

/// A regeneration holds each default boot image: no job is queued on one meanwhile, none is
/// deleted, and it is itself refused while a job works on one.
#[tokio::test]
async fn the_default_regeneration_holds_every_default_boot_image() {
    for backend in BACKENDS {
        let s = Setup::configured(backend, |config, root| {
            config
                .images
                .default_boot_sources
                .insert("amd64".into(), root.join("boot_amd64.wim"));
        })
        .await;
        let admin = s.domain.for_actor(&s.admin);
        s.start_runner();
        let made = admin
            .boot_images()
            .update_defaults()
            .await
            .expect("defaults");
        let made = wait_until_final(&s.domain, made, LONG).await;
        assert_eq!(made.state, JobState::Succeeded, "{:?}", made.error);
        s.stop_runner().await;
        let default = s
            .domain
            .catalog()
            .default_for("amd64")
            .await
            .expect("db")
            .expect("the default boot image");

        // No runner from here on: what is queued stays queued.
        let regeneration = admin.boot_images().update_defaults().await.expect("queued");
        let apply = admin.boot_drivers().apply(default.id).await;
        assert_eq!(
            conflict(apply),
            format!("Update default boot images is queued on this image: job {regeneration}")
        );
        let verify_it = admin
            .catalog()
            .service(ImageKind::Boot, default.id, verify())
            .await;
        assert!(conflict(verify_it).contains(&format!("job {regeneration}")));
        let delete = admin
            .catalog()
            .delete(ImageKind::Boot, default.id, default.row_version)
            .await
            .map(|()| 0);
        assert!(conflict(delete).contains(&format!("job {regeneration}")));
        let again = admin.boot_images().update_defaults().await;
        assert_eq!(
            conflict(again),
            format!(
                "Update default boot images is queued on the default boot images: job {regeneration}"
            )
        );

        // The other way round: a job on a default boot image holds off the regeneration.
        admin.jobs().cancel(regeneration).await.expect("cancel");
        let apply = admin.boot_drivers().apply(default.id).await.expect("apply");
        let regenerate = admin.boot_images().update_defaults().await;
        // Not named: the one who regenerates may not be allowed to read it.
        assert_eq!(
            conflict(regenerate),
            format!("Build boot image is queued on an image this job works on: job {apply}")
        );
        let job = s.domain.jobs().get(apply).await.expect("job");
        let target = job.target.expect("the apply job names its image");
        assert_eq!(
            (target.kind.as_str(), target.id),
            ("boot-image", default.id.to_string())
        );
    }
}

/// A schedule's job holds its image like the console's own: firing while another job works
/// on the image queues nothing, and says so in the audit log; otherwise the job it queues is
/// recorded as its owner's change, with its target.
#[tokio::test]
async fn scheduled_jobs_hold_their_objects_and_each_firing_is_audited() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let id = s.import(ImageKind::Boot, "boot_amd64.wim", "Lab PE").await;
        let admin = s.domain.for_actor(&s.admin);
        // The parameters of a verification, as the console queues it.
        let sample = admin
            .catalog()
            .service(ImageKind::Boot, id, verify())
            .await
            .expect("verify");
        let params = s.domain.jobs().get(sample).await.expect("job").params;
        admin.jobs().cancel(sample).await.expect("cancel");
        admin
            .jobs()
            .create_schedule(NewSchedule {
                name: "hourly verify".into(),
                kind: "image-verify".into(),
                params,
                spec: ScheduleSpec::Interval(3600),
            })
            .await
            .expect("schedule");

        let busy = admin.boot_drivers().apply(id).await.expect("apply");
        s.clock.advance_ms(3_600_000);
        s.domain.jobs().fire_due_schedules().await.expect("fire");
        let queued = s
            .domain
            .jobs()
            .list(&Default::default(), Default::default(), 50)
            .await
            .expect("jobs")
            .jobs;
        assert_eq!(
            queued
                .iter()
                .filter(|j| j.kind == "image-verify" && j.state == JobState::Queued)
                .count(),
            0,
            "a schedule queued a second job on a busy image"
        );
        let entries = admin
            .audit()
            .search(&Default::default(), None, 20)
            .await
            .expect("audit");
        let refused = &entries[0];
        assert_eq!(
            (refused.outcome.as_str(), refused.source_addr.as_str()),
            ("denied", "schedule"),
            "{refused:#?}"
        );
        assert!(
            refused.detail.contains(&format!("job {busy}")),
            "{refused:#?}"
        );

        admin.jobs().cancel(busy).await.expect("cancel");
        s.clock.advance_ms(3_600_000);
        s.domain.jobs().fire_due_schedules().await.expect("fire");
        let job = s
            .domain
            .jobs()
            .list(&Default::default(), Default::default(), 1)
            .await
            .expect("jobs")
            .jobs
            .remove(0);
        assert_eq!(
            (job.kind.as_str(), job.state),
            ("image-verify", JobState::Queued)
        );
        let target = job.target.expect("a scheduled job names its image");
        assert_eq!(target.id, id.to_string());
        let fired = &admin
            .audit()
            .search(&Default::default(), None, 1)
            .await
            .expect("audit")[0];
        assert_eq!(
            (
                fired.outcome.as_str(),
                fired.username.as_str(),
                fired.object_id.as_deref()
            ),
            ("allowed", "admin", Some(id.to_string().as_str())),
            "{fired:#?}"
        );
        assert_eq!(fired.changes["job"][1], serde_json::json!(job.id));

        // A schedule whose owner was disabled queues nothing; the entry names the owner.
        let deputy = s.user("deputy", Role::FullAdministrator).await;
        admin.jobs().cancel(job.id).await.expect("cancel");
        s.domain
            .for_actor(&deputy)
            .jobs()
            .create_schedule(NewSchedule {
                name: "deputy's verify".into(),
                kind: "image-verify".into(),
                params: job.params.clone(),
                spec: ScheduleSpec::Interval(60),
            })
            .await
            .expect("deputy's schedule");
        admin
            .security()
            .set_disabled(deputy.user_id, true)
            .await
            .expect("disable");
        s.clock.advance_ms(60_000);
        s.domain.jobs().fire_due_schedules().await.expect("fire");
        let refused = &admin
            .audit()
            .search(&Default::default(), None, 1)
            .await
            .expect("audit")[0];
        assert_eq!(
            (
                refused.outcome.as_str(),
                refused.username.as_str(),
                refused.user_id
            ),
            ("denied", "deputy", Some(deputy.user_id)),
            "{refused:#?}"
        );
    }
}

/// Pruning finished jobs and splitting an image out of the catalog leave audit entries.
#[tokio::test]
async fn prunes_and_splits_are_audited() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let id = s.import(ImageKind::Boot, "boot_amd64.wim", "Lab PE").await;
        let admin = s.domain.for_actor(&s.admin);
        s.start_runner();
        let split = admin
            .catalog()
            .service(ImageKind::Boot, id, ImageAction::Split { part_mib: 16 })
            .await
            .expect("split");
        let split = wait_until_final(&s.domain, split, LONG).await;
        assert_eq!(split.state, JobState::Succeeded, "{:?}", split.error);
        s.clock.advance_ms(3 * 86_400_000);
        let finished = s
            .domain
            .jobs()
            .list(&Default::default(), Default::default(), 50)
            .await
            .expect("jobs")
            .jobs
            .len();
        let prune = admin
            .jobs()
            .start(domain::jobs::NewJob::new(
                "prune-jobs",
                serde_json::json!({ "older_than_days": 1 }),
            ))
            .await
            .expect("prune");
        let prune = wait_until_final(&s.domain, prune, LONG).await;
        assert_eq!(prune.state, JobState::Succeeded, "{:?}", prune.error);
        s.stop_runner().await;
        let entries = admin
            .audit()
            .search(&Default::default(), None, 50)
            .await
            .expect("audit");
        let split_entry = entries
            .iter()
            .find(|e| e.changes.get("split into").is_some())
            .expect("the split is audited");
        assert_eq!(
            (split_entry.operation.as_str(), split_entry.detail.clone()),
            ("read", format!("job {}", split.id))
        );
        let pruned = entries
            .iter()
            .find(|e| e.operation == "delete" && e.object_type == "job")
            .expect("the prune is audited");
        assert_eq!(pruned.changes["deleted"][1], serde_json::json!(finished));
        assert!(matches!(
            s.domain.jobs().get(split.id).await,
            Err(Error::NotFound(_))
        ));
    }
}
