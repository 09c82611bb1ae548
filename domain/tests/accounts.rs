use domain::{Error, Role, accounts::ClientInfo, testing::BACKENDS};

use crate::PASSWORD;

fn client(addr: &str) -> ClientInfo {
    ClientInfo {
        source_addr: Some(addr.into()),
        user_agent: Some("test".into()),
    }
}

#[tokio::test]
async fn users_are_unique_case_insensitively_and_validated() {
    for backend in BACKENDS {
        let (domain, _clock, _db) = crate::open(backend).await;
        let accounts = domain.accounts();
        accounts
            .create_user("Admin", PASSWORD, &[Role::FullAdministrator])
            .await
            .expect("create");
        let err = accounts
            .create_user("admin", PASSWORD, &[Role::Auditor])
            .await
            .expect_err("dup");
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        let err = accounts
            .create_user("bob", "short", &[Role::Auditor])
            .await
            .expect_err("pw");
        assert!(
            matches!(
                err,
                Error::InvalidInput {
                    field: "password",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = accounts
            .create_user("bad name", PASSWORD, &[Role::Auditor])
            .await
            .expect_err("name");
        assert!(
            matches!(
                err,
                Error::InvalidInput {
                    field: "username",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = accounts
            .create_user("carol", PASSWORD, &[])
            .await
            .expect_err("roles");
        assert!(
            matches!(err, Error::InvalidInput { field: "roles", .. }),
            "{err:?}"
        );
        assert_eq!(accounts.count_users().await.expect("count"), 1);
    }
}

#[tokio::test]
async fn sign_in_checks_the_password_and_loads_roles() {
    for backend in BACKENDS {
        let (domain, _clock, _db) = crate::open(backend).await;
        domain
            .accounts()
            .create_user("ops", PASSWORD, &[Role::ContentOperator, Role::Auditor])
            .await
            .expect("create");
        let (token, actor) = domain
            .accounts()
            .sign_in("OPS", PASSWORD, &client("10.0.0.1"))
            .await
            .expect("sign in");
        assert_eq!(actor.username, "ops");
        assert_eq!(actor.roles, vec![Role::ContentOperator, Role::Auditor]);
        let resolved = domain
            .sessions()
            .resolve(&token)
            .await
            .expect("resolve")
            .expect("live");
        assert_eq!(resolved.actor, actor);

        let err = domain
            .accounts()
            .sign_in("ops", "wrong password!", &client("10.0.0.1"))
            .await
            .expect_err("wrong");
        assert!(matches!(err, Error::InvalidCredentials));
        let err = domain
            .accounts()
            .sign_in("nobody", PASSWORD, &client("10.0.0.1"))
            .await
            .expect_err("unknown");
        assert!(matches!(err, Error::InvalidCredentials));
    }
}

#[tokio::test]
async fn repeated_failures_are_throttled_even_with_the_right_password() {
    for backend in BACKENDS {
        let (domain, clock, _db) = crate::open(backend).await;
        domain
            .accounts()
            .create_user("ops", PASSWORD, &[Role::Auditor])
            .await
            .expect("create");
        for _ in 0..5 {
            let err = domain
                .accounts()
                .sign_in("ops", "not the password", &client("10.0.0.2"))
                .await
                .expect_err("wrong");
            assert!(matches!(err, Error::InvalidCredentials));
        }
        let err = domain
            .accounts()
            .sign_in("ops", PASSWORD, &client("10.0.0.2"))
            .await
            .expect_err("locked");
        assert!(
            matches!(
                err,
                Error::Throttled {
                    retry_after_secs: 30
                }
            ),
            "{err:?}"
        );
        // The real owner, elsewhere, is not locked out by someone else's guesses.
        domain
            .accounts()
            .sign_in("ops", PASSWORD, &client("10.0.0.3"))
            .await
            .expect("another address");
        clock.advance_ms(30_000);
        domain
            .accounts()
            .sign_in("ops", PASSWORD, &client("10.0.0.2"))
            .await
            .expect("lock over");
    }
}

/// One valid account does not reset the per-address limit for the names tried from there.
#[tokio::test]
async fn a_success_does_not_reset_the_address_limit_for_other_names() {
    for backend in BACKENDS {
        let (domain, _clock, _db) = crate::open(backend).await;
        domain
            .accounts()
            .create_user("mine", PASSWORD, &[Role::Auditor])
            .await
            .expect("create");
        let attacker = client("10.0.0.7");
        let mut throttled_after = None;
        for i in 0..40 {
            // Four guesses at a new victim, then a sign-in to the attacker's own account.
            let name = format!("victim{}", i / 4);
            match domain
                .accounts()
                .sign_in(&name, "guess-guess-guess", &attacker)
                .await
            {
                Err(Error::InvalidCredentials) => {}
                Err(Error::Throttled { .. }) => {
                    throttled_after = Some(i);
                    break;
                }
                other => panic!("{other:?}"),
            }
            if i % 4 == 3 {
                let _ = domain.accounts().sign_in("mine", PASSWORD, &attacker).await;
            }
        }
        assert_eq!(
            throttled_after,
            Some(20),
            "the address limit was reset by a success"
        );
    }
}

#[tokio::test]
async fn setup_link_creates_the_first_full_administrator_once() {
    for backend in BACKENDS {
        let (domain, _clock, _db) = crate::open(backend).await;
        let token = domain
            .accounts()
            .issue_setup_token()
            .await
            .expect("issue")
            .expect("no users yet");
        let err = domain
            .accounts()
            .complete_setup("forged", "root", PASSWORD, &client("::1"))
            .await
            .expect_err("forged");
        assert!(matches!(err, Error::InvalidInput { field: "token", .. }));
        // A bad password does not burn the token.
        assert!(
            domain
                .accounts()
                .complete_setup(&token, "root", "short", &client("::1"))
                .await
                .is_err()
        );
        let (_session, actor) = domain
            .accounts()
            .complete_setup(&token, "root", PASSWORD, &client("::1"))
            .await
            .expect("setup");
        assert_eq!(actor.roles, vec![Role::FullAdministrator]);
        let again = domain
            .accounts()
            .complete_setup(&token, "root2", PASSWORD, &client("::1"))
            .await;
        assert!(again.is_err(), "the token works once");
        assert_eq!(
            domain.accounts().issue_setup_token().await.expect("issue"),
            None
        );
    }
}
