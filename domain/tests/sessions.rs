use domain::{Role, accounts::ClientInfo, testing::BACKENDS};

use crate::PASSWORD;

#[tokio::test]
async fn sessions_end_when_idle_or_too_old_and_on_revoke() {
    for backend in BACKENDS {
        let (domain, clock, _db) = crate::open(backend).await;
        domain
            .accounts()
            .create_user("ops", PASSWORD, &[Role::Auditor])
            .await
            .expect("create");
        let client = ClientInfo::default();
        let sign_in = || async {
            domain
                .accounts()
                .sign_in("ops", PASSWORD, &client)
                .await
                .expect("sign in")
                .0
        };

        // Idle: 30 minutes without use.
        let token = sign_in().await;
        clock.advance_ms(29 * 60_000);
        assert!(
            domain
                .sessions()
                .resolve(&token)
                .await
                .expect("resolve")
                .is_some(),
            "used in time"
        );
        clock.advance_ms(29 * 60_000);
        assert!(
            domain
                .sessions()
                .resolve(&token)
                .await
                .expect("resolve")
                .is_some(),
            "use refreshes idle"
        );
        clock.advance_ms(30 * 60_000);
        assert!(
            domain
                .sessions()
                .resolve(&token)
                .await
                .expect("resolve")
                .is_none(),
            "idle expiry"
        );

        // Absolute: 12 hours however busy.
        let token = sign_in().await;
        for _ in 0..(12 * 3) {
            clock.advance_ms(20 * 60_000);
            let live = domain
                .sessions()
                .resolve(&token)
                .await
                .expect("resolve")
                .is_some();
            if !live {
                break;
            }
        }
        assert!(
            domain
                .sessions()
                .resolve(&token)
                .await
                .expect("resolve")
                .is_none(),
            "absolute expiry"
        );

        // Revoke.
        let token = sign_in().await;
        assert_eq!(domain.sessions().count_active().await.expect("count"), 1);
        domain.sessions().revoke(&token).await.expect("revoke");
        assert!(
            domain
                .sessions()
                .resolve(&token)
                .await
                .expect("resolve")
                .is_none()
        );

        // Prune removes what is expired and keeps what is live.
        let _stale = sign_in().await;
        clock.advance_ms(31 * 60_000);
        let live = sign_in().await;
        assert_eq!(domain.sessions().prune_expired().await.expect("prune"), 1);
        assert!(
            domain
                .sessions()
                .resolve(&live)
                .await
                .expect("resolve")
                .is_some()
        );
    }
}
