//! Prestaged content: a DP enabled for it waits for the file instead of fetching, following
//! the content's prestaged setting; the file is made by a job, refused when damaged, and
//! installs without a byte fetched.

use std::collections::BTreeSet;

use domain::{
    Error,
    authz::ObjectType,
    catalog::{ImageKind, kinds::ImageAction},
    content::ContentObject,
    distribution::{
        PrestagedBehavior,
        actions::Targets,
        agent::prestaged,
        assign::{ContentSettings, DistState},
        prestage,
    },
    testing::BACKENDS,
    wim::Compression,
};

use crate::distribution::{Setup, installed_file, sync};

/// The contents a user is offered for a new prestaged file.
async fn offered_objects(prestaged: &prestage::ActorPrestaged<'_>) -> Vec<ContentObject> {
    prestaged
        .choices()
        .await
        .expect("choices")
        .into_iter()
        .map(|(c, _)| c.object)
        .collect()
}

#[tokio::test]
async fn a_dp_enabled_for_prestaged_content_waits_for_the_file_and_installs_from_it() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let image = s.os_image("Pro").await;
        let object = ContentObject::new(ObjectType::OsImage, image);
        let (dp, agent, data, _) = s.dp("Branch offline").await;
        let points = s.domain.for_actor(&s.admin).distribution_points();
        let point = points.get(dp).await.expect("dp");
        let mut settings = point.settings.clone();
        settings.prestaged_enabled = true;
        points
            .edit(dp, point.row_version, &point.name, true, settings)
            .await
            .expect("enable prestaged");
        let distribution = s.domain.for_actor(&s.osd).distribution();
        distribution
            .set_settings(
                object,
                ContentSettings {
                    prestaged: PrestagedBehavior::Manual,
                    ..ContentSettings::default()
                },
            )
            .await
            .expect("settings");
        let job = distribution
            .distribute(
                object,
                Targets {
                    dps: vec![dp],
                    groups: vec![],
                },
            )
            .await
            .expect("distribute");
        s.wait_job(job).await;

        // Nothing is offered: the DP waits, and the status says for what.
        sync(&agent, &s.domain, dp).await;
        let status = s.domain.for_actor(&s.osd).distribution_status();
        let pair = status.pairs(Some(object), None).await.expect("pairs")[0].clone();
        assert_eq!(pair.state, DistState::Waiting);
        assert!(
            pair.detail
                .as_deref()
                .unwrap_or_default()
                .contains("Waiting for prestaged content"),
            "{pair:?}"
        );
        assert!(!installed_file(data.path(), pair.content_id).exists());

        // Making, listing and downloading files need the right rights.
        let refused = s
            .domain
            .for_actor(&s.analyst)
            .prestaged()
            .create(vec![object])
            .await
            .expect_err("the analyst may not distribute");
        assert!(matches!(refused, domain::Error::Forbidden(_)), "{refused}");
        let job = s
            .domain
            .for_actor(&s.osd)
            .prestaged()
            .create(vec![object])
            .await
            .expect("create");
        s.wait_job(job).await;
        let files = s
            .domain
            .for_actor(&s.osd)
            .prestaged()
            .files_of(object)
            .await
            .expect("files");
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].versions[0].number, 1);
        let path = s
            .domain
            .for_actor(&s.osd)
            .prestaged()
            .open(&files[0].name)
            .await
            .expect("open");
        for hostile in [
            "../domain.db",
            "prestaged-1.wdprestage/../../x",
            "prestaged-.wdprestage",
        ] {
            let error = s
                .domain
                .for_actor(&s.osd)
                .prestaged()
                .open(hostile)
                .await
                .expect_err(hostile);
            assert!(
                error.sentence().contains("not the name of a prestaged"),
                "{error}"
            );
        }
        let error = s
            .domain
            .for_actor(&s.analyst)
            .prestaged()
            .open(&files[0].name)
            .await
            .expect_err("the analyst may not download");
        assert!(matches!(error, domain::Error::Forbidden(_)), "{error}");

        // A damaged copy is refused and changes nothing on the DP.
        let mut bytes = std::fs::read(&path).expect("read");
        let at = bytes.len() / 2;
        bytes[at] ^= 0x40;
        let damaged = data.path().join("damaged.wdprestage");
        std::fs::write(&damaged, &bytes).expect("write");
        let error = prestaged::import(agent.layout(), &damaged).expect_err("damaged");
        assert!(error.sentence().contains("refused"), "{error}");
        assert!(prestaged::available(agent.layout()).is_empty());
        let kept: Vec<_> = walk(&data.path().join("prestaged"))
            .into_iter()
            .filter(|p| !p.ends_with(".lock"))
            .collect();
        assert!(kept.is_empty(), "nothing kept: {kept:?}");

        // The whole file: the DP installs from it and fetches nothing.
        let imported = prestaged::import(agent.layout(), &path).expect("import");
        assert_eq!(imported.versions.len(), 1);
        assert!(imported.chunks > 0);
        sync(&agent, &s.domain, dp).await;
        let pair = status.pairs(Some(object), None).await.expect("pairs")[0].clone();
        assert_eq!(pair.state, DistState::Success, "{pair:?}");
        assert_eq!(pair.bytes_needed, Some(0), "nothing fetched");
        let catalog = s.domain.catalog().get(image).await.expect("image");
        assert_eq!(
            domain::fsx::sha256_file(&installed_file(data.path(), pair.content_id)).expect("sha"),
            catalog.sha256
        );
        assert!(
            prestaged::available(agent.layout()).is_empty(),
            "the prestaged copy is freed once installed"
        );

        // "Download only content changes": later versions are fetched.
        distribution
            .set_settings(
                object,
                ContentSettings {
                    prestaged: PrestagedBehavior::Changes,
                    ..ContentSettings::default()
                },
            )
            .await
            .expect("settings");
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
        let job = distribution.update(object).await.expect("update");
        s.wait_job(job).await;
        sync(&agent, &s.domain, dp).await;
        let pair = status.pairs(Some(object), None).await.expect("pairs")[0].clone();
        assert_eq!(pair.state, DistState::Success, "{pair:?}");
        assert_eq!(pair.installed_version, Some(2));
        assert!(pair.bytes_needed.unwrap_or(0) > 0, "{pair:?}");

        s.domain
            .for_actor(&s.osd)
            .prestaged()
            .delete(&files[0].name)
            .await
            .expect("delete");
        assert!(!path.exists());
        s.stop().await;
    }
}

#[tokio::test]
async fn one_file_holds_the_chosen_contents_and_users_see_only_what_they_may_distribute() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let (dp, _agent, _data, _) = s.dp("Branch").await;
        let mut objects = Vec::new();
        for name in ["Pro", "Education"] {
            let object = ContentObject::new(ObjectType::OsImage, s.os_image(name).await);
            s.distribute_to(&s.admin, object, dp).await;
            objects.push(object);
        }
        let prestaged = s.domain.for_actor(&s.osd).prestaged();
        let choices = prestaged.choices().await.expect("choices");
        let offered: Vec<(ContentObject, Option<i32>)> =
            choices.iter().map(|(c, v)| (c.object, *v)).collect();
        assert_eq!(offered.len(), 2, "{choices:?}");
        assert!(objects.iter().all(|o| offered.contains(&(*o, Some(1)))));

        // One file of both.
        let job = prestaged.create(objects.clone()).await.expect("create");
        s.wait_job(job).await;
        let files = prestaged.files().await.expect("files");
        assert_eq!(files.len(), 1);
        let held: Vec<i64> = files[0].versions.iter().map(|v| v.object_id).collect();
        assert_eq!(held.len(), 2);
        assert!(objects.iter().all(|o| held.contains(&o.object_id)));
        for object in &objects {
            assert_eq!(prestaged.files_of(*object).await.expect("of").len(), 1);
        }

        // An OS Deployment Manager scoped to a lab is offered the lab's image only, and sees
        // no file holding another.
        let (lab, lab_osd) = crate::lab_osd(&s.domain, &s.admin).await;
        let security = s.domain.for_actor(&s.admin).security();
        security
            .set_object_scopes(
                ObjectType::OsImage,
                objects[0].object_id,
                &BTreeSet::from([lab]),
            )
            .await
            .expect("image to lab");
        let scoped = s.domain.for_actor(&lab_osd).prestaged();
        assert_eq!(offered_objects(&scoped).await, vec![objects[0]]);
        assert!(scoped.files().await.expect("files").is_empty());
        // Not even beside the lab's image: the file would name the other one.
        assert!(
            scoped
                .files_of(objects[0])
                .await
                .expect("files of")
                .is_empty()
        );
        let err = scoped
            .create(objects.clone())
            .await
            .expect_err("an image outside the scopes");
        assert!(matches!(err, Error::Forbidden(_)), "{err}");

        // A deleted image's content stays while a DP holds it, but is offered no more.
        s.delete_os_image(objects[1].object_id).await;
        assert_eq!(offered_objects(&prestaged).await, vec![objects[0]]);

        // A Read-only Analyst makes none and is offered nothing.
        let analyst = s.domain.for_actor(&s.analyst).prestaged();
        assert!(!analyst.may_create());
        assert!(matches!(
            analyst.choices().await.expect_err("analyst"),
            Error::Forbidden(_)
        ));
        s.stop().await;
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
