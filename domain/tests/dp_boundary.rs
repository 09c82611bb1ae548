//! What a DP may reach through the protocol: only the manifests and chunks of what is assigned
//! to it, and only its own assignments; malformed requests are refused with a reason.

use domain::{
    authz::ObjectType,
    content::ContentObject,
    distribution::protocol::{ChunksRequest, MAX_CHUNKS_PER_REQUEST, ReportedState, StatusReport},
    testing::BACKENDS,
};

use crate::distribution::Setup;

#[tokio::test]
async fn a_dp_reaches_only_the_content_assigned_to_it() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let image = s.os_image("Pro").await;
        let object = ContentObject::new(ObjectType::OsImage, image);
        let (dp_a, _, _data_a, credential_a) = s.dp("Branch A").await;
        let (_dp_b, _, _data_b, credential_b) = s.dp("Branch B").await;
        s.distribute_to(&s.osd, object, dp_a).await;
        let site = s.domain.dp_site();
        let a = site.authenticate(&credential_a).await.expect("A");
        let b = site.authenticate(&credential_b).await.expect("B");
        let work = site.work_for(&a, &[]).await.expect("work");
        let item = &work[0];
        let version = item.version.clone().expect("version");
        let manifest = domain::content::Manifest::parse(
            &site
                .manifest(&a, &version.manifest_sha256)
                .await
                .expect("A's manifest"),
        )
        .expect("manifest");
        let chunks: Vec<String> = manifest
            .distinct_chunks()
            .into_iter()
            .map(|c| c.sha256)
            .collect();

        // B: not its manifest, not its assignment, not its chunks.
        let refused = site
            .manifest(&b, &version.manifest_sha256)
            .await
            .expect_err("B reads A's manifest");
        assert!(matches!(refused, domain::Error::NotFound(_)), "{refused}");
        let request = ChunksRequest {
            assignment_id: item.assignment_id,
            chunks: chunks[..1].to_vec(),
        };
        let refused = site
            .chunk_plan(&b, &request)
            .await
            .expect_err("B takes A's chunks");
        assert!(matches!(refused, domain::Error::NotFound(_)), "{refused}");
        let refused = site
            .report(
                &b,
                StatusReport {
                    assignment_id: item.assignment_id,
                    generation: item.generation,
                    state: ReportedState::Installed,
                    version_id: Some(version.id),
                    bytes_total: Some(version.total_bytes),
                    bytes_needed: Some(0),
                    bytes_done: 0,
                    rate_bps: None,
                    detail: None,
                },
            )
            .await
            .expect_err("B reports on A's assignment");
        assert!(matches!(refused, domain::Error::NotFound(_)), "{refused}");

        // A: its chunks, but nothing else, and nothing malformed.
        assert_eq!(
            site.chunk_plan(&a, &request)
                .await
                .expect("A's chunks")
                .len(),
            1
        );
        let foreign = "ab".repeat(32);
        for (chunks, expected) in [
            (vec![foreign.clone()], "in the version assigned to this DP"),
            (vec!["../../etc/passwd".to_owned()], "is not a SHA-256"),
            (
                vec![chunks[0].clone(); MAX_CHUNKS_PER_REQUEST + 1],
                "chunks per request",
            ),
        ] {
            let error = site
                .chunk_plan(
                    &a,
                    &ChunksRequest {
                        assignment_id: item.assignment_id,
                        chunks,
                    },
                )
                .await
                .expect_err(expected);
            assert!(error.sentence().contains(expected), "{error}");
        }
        for hostile in ["../../domain.db", &foreign, ""] {
            let error = site.manifest(&a, hostile).await.expect_err(hostile);
            assert!(matches!(error, domain::Error::NotFound(_)), "{error}");
        }
        s.stop().await;
    }
}
