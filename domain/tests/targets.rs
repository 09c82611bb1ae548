//! What the Distribute form offers: DPs and groups found by words, a page at most, only those
//! the user may send the content to, DPs that have it left out and counted.

use std::collections::BTreeSet;

use domain::{
    Error,
    authz::ObjectType,
    content::ContentObject,
    distribution::{
        actions::TargetChoices,
        listing::{Page, Words},
    },
    testing::BACKENDS,
};

use crate::distribution::Setup;

fn names(page: &Page<(i64, String)>) -> Vec<&str> {
    page.rows.iter().map(|(_, n)| n.as_str()).collect()
}

#[tokio::test]
async fn the_distribute_form_offers_only_what_the_user_may_send_to_found_by_words() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let image = s.os_image("Pro").await;
        let object = ContentObject::new(ObjectType::OsImage, image);
        let (branch1, _agent1, _data1, _) = s.dp("Branch 1").await;
        let (branch2, _agent2, _data2, _) = s.dp("Branch 2").await;
        let groups = s.domain.for_actor(&s.admin).dp_groups();
        let branches = groups
            .create("Branches", "every branch office")
            .await
            .expect("group");
        groups
            .set_members(branches, &[branch1, branch2])
            .await
            .expect("members");
        let benches = groups.create("Benches", "").await.expect("group");
        groups
            .set_members(benches, &[branch1])
            .await
            .expect("members");
        let offered = |actor, words: &str, limit| {
            let (domain, words) = (&s.domain, Words::new(words));
            async move {
                domain
                    .for_actor(actor)
                    .distribution()
                    .choices(object, &words, limit)
                    .await
            }
        };

        // A Read-only Analyst is offered nothing.
        let err = offered(&s.analyst, "", 20).await.expect_err("analyst");
        assert!(matches!(err, Error::Forbidden(_)), "{err}");

        // Words in names and descriptions, in any case; a page at most, and how many matched.
        let all: TargetChoices = offered(&s.admin, "", 2).await.expect("admin");
        assert_eq!(names(&all.dps), ["Branch 1", "Branch 2"]);
        assert_eq!(all.dps.matched, 3, "and This server");
        assert_eq!(names(&all.groups), ["Benches", "Branches"]);
        let found = offered(&s.admin, "BRANCH 2", 20).await.expect("admin");
        assert_eq!(names(&found.dps), ["Branch 2"]);
        assert_eq!(names(&found.groups), Vec::<&str>::new());
        let found = offered(&s.admin, "office", 20).await.expect("admin");
        assert_eq!(names(&found.groups), ["Branches"]);
        let found = offered(&s.admin, "<b>nowhere", 20).await.expect("admin");
        assert_eq!((found.dps.matched, found.groups.matched), (0, 0));

        // A lab-scoped manager is offered the DPs of the lab, and only the groups all of whose
        // members are there: sending to "Branches" would be refused for Branch 2.
        let (lab, lab_osd) = crate::lab_osd(&s.domain, &s.admin).await;
        let security = s.domain.for_actor(&s.admin).security();
        security
            .set_object_scopes(ObjectType::OsImage, image, &BTreeSet::from([lab]))
            .await
            .expect("image to lab");
        security
            .set_object_scopes(
                ObjectType::DistributionPoint,
                branch1,
                &BTreeSet::from([lab]),
            )
            .await
            .expect("dp to lab");
        let lab_offer = offered(&lab_osd, "", 20).await.expect("lab");
        assert_eq!(names(&lab_offer.dps), ["Branch 1"]);
        assert_eq!(names(&lab_offer.groups), ["Benches"]);

        // Once it has the content, a DP is no longer offered, and is counted.
        s.distribute_to(&lab_osd, object, branch1).await;
        let lab_offer = offered(&lab_osd, "", 20).await.expect("lab");
        assert_eq!(names(&lab_offer.dps), Vec::<&str>::new());
        assert_eq!(lab_offer.holding, 1);
        let all = offered(&s.admin, "", 20).await.expect("admin");
        assert_eq!(names(&all.dps), ["Branch 2", "This server"]);
        assert_eq!(all.holding, 1);
        s.stop().await;
    }
}
