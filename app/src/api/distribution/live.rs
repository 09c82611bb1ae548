//! Live distribution pages: a websocket that tells a page when what it shows changed (a DP
//! reported progress or a result, an assignment was made or dropped), on whichever site server
//! it happened. The page then reads its view again through the usual server functions, with
//! the user's rights; the socket itself carries no data.

use leptos::{
    prelude::*,
    server_fn::{BoxedStream, Websocket, codec::JsonEncoding},
};
use serde::{Deserialize, Serialize};

use crate::AppError;

/// Silence after which the socket says it is alive (proxies close idle ones after 60 s).
#[cfg(feature = "ssr")]
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(25);

/// What a page follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Follow {
    /// An image's or a driver package's Distribution panel.
    Content { object_type: String, object_id: i64 },
    /// A DP's page.
    Dp(i64),
    /// The Distribution status page.
    All,
}

/// Sends a counter (from 1) each time what the followed page shows may have changed: at most
/// about four times a second, however many DPs report; and 0 after 25 s of silence, so proxies
/// keep the socket open. The client sends what it follows as its first message; the task ends
/// when the socket closes. Pages also poll, so a browser or proxy without websockets still
/// updates.
#[server(endpoint = "watch_distribution", protocol = Websocket<JsonEncoding, JsonEncoding>)]
pub async fn watch_distribution(
    input: BoxedStream<Follow, AppError>,
) -> Result<BoxedStream<u64, AppError>, AppError> {
    use domain::{
        authz::{ObjectType as T, Operation as O},
        distribution::status::Followed,
    };
    use futures::{SinkExt, StreamExt};
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};

    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    // Whoever sees no distribution at all has nothing to follow; what is followed is checked
    // when the first message names it.
    let readable = [
        T::DistributionPoint,
        T::BootImage,
        T::OsImage,
        T::DriverPackage,
    ];
    if !readable.iter().any(|t| actor.holds(*t, O::Read)) {
        return Err(AppError::Forbidden("see distribution status".into()));
    }
    let mut events = domain.subscribe_distribution();
    let (mut tx, rx) = futures::channel::mpsc::channel(4);
    let mut input = input;
    tokio::spawn(async move {
        let Some(Ok(follow)) = input.next().await else {
            return;
        };
        let followed = match follow {
            Follow::Content {
                object_type,
                object_id,
            } => match super::ssr::object(&object_type, object_id) {
                Ok(object) => Followed::Content(object),
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            },
            Follow::Dp(id) => Followed::Dp(id),
            Follow::All => Followed::All,
        };
        let mut filter = match domain
            .for_actor(&actor)
            .distribution_status()
            .follow(followed)
            .await
        {
            Ok(filter) => filter,
            Err(e) => {
                let _ = tx.send(Err(AppError::from(e))).await;
                return;
            }
        };
        let mut sent = 0u64;
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.reset();
        loop {
            let event = tokio::select! {
                // The page was left (the socket closed): nothing else comes from it.
                message = input.next() => match message {
                    Some(Ok(_)) => continue,
                    None | Some(Err(_)) => return,
                },
                // Proxies close a socket that stays silent; 0 says that nothing changed.
                _ = heartbeat.tick() => {
                    if tx.send(Ok(0)).await.is_err() {
                        return;
                    }
                    continue;
                }
                received = events.recv() => match received {
                    Ok(event) => Some(event),
                    // Missed events: something changed.
                    Err(RecvError::Lagged(_)) => None,
                    Err(RecvError::Closed) => return,
                },
            };
            if let Some(event) = event
                && !filter.concerns(&domain, &event).await
            {
                continue;
            }
            // One message for a burst: what arrives meanwhile is covered by the page's next read.
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            loop {
                match events.try_recv() {
                    Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => return,
                }
            }
            sent += 1;
            if tx.send(Ok(sent)).await.is_err() {
                return;
            }
            heartbeat.reset();
        }
    });
    Ok(rx.into())
}
