//! Distribution on demand: a DP asks for content on a client's behalf; the site sends it only
//! when the content is distributed on demand and the DP is a preferred one for the client.

use domain::{
    authz::ObjectType,
    content::ContentObject,
    distribution::{
        assign::{ContentSettings, DistState},
        protocol::Demanded,
    },
    testing::BACKENDS,
};

use crate::distribution::{Setup, installed_file, sync};

#[tokio::test]
async fn a_preferred_dp_gets_on_demand_content_when_a_client_asks_for_it() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let image = s.os_image("Pro").await;
        let object = ContentObject::new(ObjectType::OsImage, image);
        let (dp, agent, data, _) = s.dp("Branch 20").await;
        let points = s.domain.for_actor(&s.admin).distribution_points();
        let point = points.get(dp).await.expect("dp");
        let mut settings = point.settings.clone();
        settings.boundaries = vec!["10.20.0.0/16".into()];
        points
            .edit(dp, point.row_version, &point.name, true, settings)
            .await
            .expect("boundaries");
        let client: std::net::IpAddr = "10.20.3.4".parse().expect("ip");

        // Not on demand: refused, nothing assigned.
        let refused = agent
            .demand(object, client)
            .await
            .expect_err("not on demand");
        assert!(refused.sentence().contains("not distributed"), "{refused}");

        let distribution = s.domain.for_actor(&s.osd).distribution();
        distribution
            .set_settings(
                object,
                ContentSettings {
                    on_demand: true,
                    ..ContentSettings::default()
                },
            )
            .await
            .expect("on demand");
        // A client outside the DP's boundaries: the DP is not a preferred one for it.
        let outside = agent
            .demand(object, "10.30.0.9".parse().expect("ip"))
            .await
            .expect_err("outside");
        assert!(
            outside
                .sentence()
                .contains("not a preferred distribution point"),
            "{outside}"
        );

        // No version yet: one is made (once, however often clients ask), then sent.
        let first = agent.demand(object, client).await.expect("demand");
        assert_eq!(first.state, Demanded::Preparing, "{first:?}");
        let again = agent.demand(object, client).await.expect("demand");
        assert_eq!(again.state, Demanded::Preparing);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while s
            .domain
            .content()
            .latest(object)
            .await
            .expect("latest")
            .is_none()
        {
            assert!(std::time::Instant::now() < deadline, "no version was made");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let coming = agent.demand(object, client).await.expect("demand");
        assert_eq!(coming.state, Demanded::Coming, "{coming:?}");
        sync(&agent, &s.domain, dp).await;
        let status = s.domain.for_actor(&s.osd).distribution_status();
        let pair = status.pairs(Some(object), Some(dp)).await.expect("pairs")[0].clone();
        assert_eq!(pair.state, DistState::Success, "{pair:?}");
        assert!(installed_file(data.path(), pair.content_id).exists());
        let present = agent.demand(object, client).await.expect("demand");
        assert_eq!(present.state, Demanded::Present);

        // The audit log says who sent it, for whom.
        let entries = s
            .domain
            .for_actor(&s.admin)
            .audit()
            .search(&Default::default(), None, 50)
            .await
            .expect("audit");
        assert!(
            entries
                .iter()
                .any(|e| e.detail.contains("on demand, for the client 10.20.3.4")),
            "{entries:?}"
        );
        s.stop().await;
    }
}
