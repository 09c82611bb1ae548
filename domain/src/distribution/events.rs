//! Changes to distribution state, told to whoever waits for them: a DP's long poll (its work
//! changed) and the console's pages (a status changed). Within one process through a
//! broadcast channel; between site servers that share a PostgreSQL database through
//! `LISTEN`/`NOTIFY`, so a DP polling one server learns at once of work another server
//! assigned, and a page served by one server follows transfers reported to another.
//!
//! An event carries ids only: whoever receives it reads the state again, with its own rights.
//! A lost event (a listener reconnecting) costs latency, never correctness: polls look again
//! after `distribution.poll_wait_secs`, and pages poll too.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::status::Followed;
use crate::{Domain, db::DatabaseKind};

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "wimdeck_distribution";

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// What a DP is asked to do (an assignment made, changed or removed; its settings).
    Work,
    /// What a DP reported about content it holds or fetches.
    Status,
}

/// A change to a DP's work or to the status of content on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DistributionEvent {
    pub change: Change,
    pub dp_id: i64,
    /// The content, when the change concerns one.
    pub content_id: Option<i64>,
}

impl DistributionEvent {
    /// `"<origin> w|s <dp> <content or ->"`.
    fn encode(&self, origin: u64) -> String {
        let change = match self.change {
            Change::Work => 'w',
            Change::Status => 's',
        };
        let content = self
            .content_id
            .map_or_else(|| "-".to_owned(), |c| c.to_string());
        format!("{origin} {change} {} {content}", self.dp_id)
    }

    fn decode(text: &str) -> Option<(u64, Self)> {
        let mut parts = text.split(' ');
        let origin = parts.next()?.parse().ok()?;
        let change = match parts.next()? {
            "w" => Change::Work,
            "s" => Change::Status,
            _ => return None,
        };
        let dp_id = parts.next()?.parse().ok()?;
        let content_id = match parts.next()? {
            "-" => None,
            id => Some(id.parse().ok()?),
        };
        parts.next().is_none().then_some((
            origin,
            Self {
                change,
                dp_id,
                content_id,
            },
        ))
    }
}

/// The events that concern a page (see [`super::status::ActorStatus::follow`]).
#[derive(Debug)]
pub struct EventFilter {
    followed: Followed,
    /// The followed content's library id, once it has one.
    content_id: Option<i64>,
    /// The DPs a user who sees only some may hear of (on the status page).
    dps: Option<HashSet<i64>>,
}

impl EventFilter {
    pub(crate) fn new(followed: Followed, dps: Option<HashSet<i64>>) -> Self {
        Self {
            followed,
            content_id: None,
            dps,
        }
    }

    /// Whether `event` may change what the page shows. A change of work without a content
    /// (an assignment made or dropped) may concern any content.
    pub async fn concerns(&mut self, domain: &Domain, event: &DistributionEvent) -> bool {
        match self.followed {
            Followed::All => self.dps.as_ref().is_none_or(|d| d.contains(&event.dp_id)),
            Followed::Dp(dp) => event.dp_id == dp,
            Followed::Content(object) => match event.content_id {
                None => {
                    // A content enters the library when first distributed, which changes
                    // some DP's work: looked up then, not on every report.
                    if self.content_id.is_none() {
                        self.content_id = domain
                            .content()
                            .content_of(object)
                            .await
                            .ok()
                            .flatten()
                            .map(|c| c.id);
                    }
                    true
                }
                Some(content) => self.content_id == Some(content),
            },
        }
    }
}

/// This process's end of the events: the broadcast for pages, the wakers of DP polls, and
/// the PostgreSQL listener (started when first needed).
pub(crate) struct Events {
    /// Tells this process's notifications from other servers'.
    origin: u64,
    sender: broadcast::Sender<DistributionEvent>,
    wakers: Mutex<HashMap<i64, Arc<Notify>>>,
    listening: AtomicBool,
    /// Payloads for the task that sends them with `NOTIFY` (started with the first).
    notifier: OnceLock<mpsc::Sender<String>>,
}

impl Default for Events {
    fn default() -> Self {
        Self {
            origin: rand::random(),
            sender: broadcast::channel(1024).0,
            wakers: Mutex::default(),
            listening: AtomicBool::new(false),
            notifier: OnceLock::new(),
        }
    }
}

impl Events {
    /// The notifier a DP's long poll in this process waits on.
    pub(crate) fn waker(&self, dp: i64) -> Arc<Notify> {
        self.wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(dp)
            .or_default()
            .clone()
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<DistributionEvent> {
        self.sender.subscribe()
    }

    /// Every poll waiting in this process looks again: events may have been missed.
    fn wake_all(&self) {
        for notify in self
            .wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            notify.notify_waiters();
        }
    }

    fn deliver(&self, event: DistributionEvent) {
        if event.change == Change::Work {
            // Only polls waiting here: an id from elsewhere adds nothing to the map.
            let waiting = self
                .wakers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&event.dp_id)
                .cloned();
            if let Some(notify) = waiting {
                notify.notify_waiters();
            }
        }
        // No subscribers is fine.
        let _ = self.sender.send(event);
    }
}

/// Tells this process, and on PostgreSQL every other site server, that `event` happened.
/// Call it after the change committed.
pub(crate) fn publish(domain: &Domain, event: DistributionEvent) {
    let events = domain.distribution_events();
    events.deliver(event);
    if domain.database_kind() != DatabaseKind::Postgres {
        return;
    }
    let notifier = events.notifier.get_or_init(|| {
        let (sender, payloads) = mpsc::channel(NOTIFY_QUEUE);
        tokio::spawn(notify(domain.db().clone(), payloads));
        sender
    });
    // A full queue (the database is slow) drops the payload: the change is committed, and a
    // lost notification only delays the others (see the module's comment).
    let _ = notifier.try_send(event.encode(events.origin));
}

/// Notifications waiting to be sent.
const NOTIFY_QUEUE: usize = 1024;

/// Sends the payloads, one statement at a time (so at most one connection of the pool), until
/// the domain is dropped.
async fn notify(db: DatabaseConnection, mut payloads: mpsc::Receiver<String>) {
    while let Some(payload) = payloads.recv().await {
        let statement = Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), payload.into()],
        );
        if let Err(e) = db.execute_raw(statement).await {
            tracing::warn!("could not tell other site servers of a distribution change: {e}");
        }
    }
}

/// Starts listening for other site servers' events, once per process (PostgreSQL only).
pub(crate) fn ensure_listening(domain: &Domain) {
    let events = domain.distribution_events();
    if domain.database_kind() != DatabaseKind::Postgres
        || events.listening.swap(true, Ordering::SeqCst)
    {
        return;
    }
    tokio::spawn(listen(
        domain.db().clone(),
        events.clone(),
        domain.stopping().clone(),
    ));
}

async fn listen(db: DatabaseConnection, events: Arc<Events>, stopping: CancellationToken) {
    use sea_orm::sqlx::postgres::PgListener;
    const RETRY: Duration = Duration::from_secs(2);
    let pool = db.get_postgres_connection_pool().clone();
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(sea_orm::sqlx::Error::PoolClosed) => return,
            Err(e) => {
                tracing::warn!("distribution events: cannot listen yet: {e}");
                tokio::select! {
                    () = stopping.cancelled() => return,
                    () = tokio::time::sleep(RETRY) => continue,
                }
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!("distribution events: cannot listen yet: {e}");
            tokio::select! {
                () = stopping.cancelled() => return,
                () = tokio::time::sleep(RETRY) => continue,
            }
        }
        // What other servers said before this listened (or while it reconnected) is lost.
        events.wake_all();
        loop {
            let notification = tokio::select! {
                () = stopping.cancelled() => return,
                n = listener.try_recv() => n,
            };
            match notification {
                Ok(Some(n)) => match DistributionEvent::decode(n.payload()) {
                    Some((origin, event)) if origin != events.origin => events.deliver(event),
                    Some(_) => {}
                    None => tracing::warn!("distribution events: a foreign payload was ignored"),
                },
                // The connection was lost; the listener reconnects on its next call.
                Ok(None) => events.wake_all(),
                // The domain closed its pool: nothing more to hear.
                Err(sea_orm::sqlx::Error::PoolClosed) => return,
                // Listen again on a new connection; don't spin while it can't.
                Err(e) => {
                    tracing::warn!("distribution events: {e}");
                    break;
                }
            }
        }
        drop(listener);
        tokio::select! {
            () = stopping.cancelled() => return,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_foreign_payloads_are_refused() {
        for event in [
            DistributionEvent {
                change: Change::Work,
                dp_id: 7,
                content_id: None,
            },
            DistributionEvent {
                change: Change::Status,
                dp_id: 1,
                content_id: Some(42),
            },
        ] {
            assert_eq!(
                DistributionEvent::decode(&event.encode(99)),
                Some((99, event))
            );
        }
        for foreign in [
            "",
            "1 x 2 3",
            "1 w 2",
            "1 w 2 3 4",
            "a w 2 3",
            "1 s 2 three",
        ] {
            assert_eq!(DistributionEvent::decode(foreign), None, "{foreign}");
        }
    }
}
