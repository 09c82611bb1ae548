//! What a DP and the site say to each other (JSON over HTTP, `/dp/v1/…`). The DP only
//! connects out: it polls for work (the site holds the poll open until there is some), fetches
//! manifests and chunks, and reports.
//!
//! Every request but enrollment carries the DP's credential (`Authorization: Bearer …`).

use serde::{Deserialize, Serialize};

use super::points::DpReport;
use crate::authz::ObjectType;

/// The version of this protocol; a DP and a site of different versions refuse each other.
pub const PROTOCOL: u32 = 1;

/// `POST /dp/v1/enroll`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub protocol: u32,
    pub token: String,
    pub report: DpReport,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollResponse {
    pub dp_id: i64,
    pub dp_name: String,
    pub credential: String,
}

/// `POST /dp/v1/poll`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollRequest {
    pub protocol: u32,
    pub report: DpReport,
    /// How long the site may hold the request when there is no work (it caps it).
    pub wait_secs: u32,
    /// (assignment, generation) the DP is working on: not offered again, and no reason to
    /// answer before the wait is over.
    #[serde(default)]
    pub busy: Vec<(i64, i32)>,
    /// Manifests (by SHA-256) of versions the DP holds from prestaged content files: what a
    /// DP enabled for prestaged content may install.
    #[serde(default)]
    pub prestaged: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollResponse {
    pub dp_id: i64,
    pub dp_name: String,
    pub settings: AgentSettings,
    /// Work to do, highest priority first.
    pub work: Vec<WorkItem>,
}

/// The DP's settings that the agent applies itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    pub rate_limit_kbps: Option<u32>,
    pub rate_limit_hours: Option<(u8, u8)>,
    pub concurrent_transfers: u32,
}

/// What the DP does about one content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkAction {
    /// Hold `version` (fetching what it lacks).
    Install,
    /// As install, into a folder of its own even when the version is in place: every file is
    /// written again and checked; damaged local chunks are fetched again.
    Redistribute,
    /// Hash every file it holds of the content and report mismatches.
    Validate,
    /// Delete the content.
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkItem {
    pub assignment_id: i64,
    pub generation: i32,
    pub action: WorkAction,
    pub content_id: i64,
    pub object_type: ObjectType,
    pub object_id: i64,
    pub name: String,
    /// The version to hold (absent for removal).
    pub version: Option<VersionRef>,
    pub priority: super::Priority,
    /// Binary differential replication: fetch only the chunks the DP lacks (off: every chunk
    /// is fetched again).
    pub differential: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionRef {
    pub id: i64,
    pub number: i32,
    pub manifest_sha256: String,
    pub total_bytes: u64,
}

/// `POST /dp/v1/chunks`: the chunks' bytes come back one after the other, in the order
/// asked, with nothing between them (the DP knows their sizes from the manifest).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunksRequest {
    pub assignment_id: i64,
    pub chunks: Vec<String>,
}

/// The most chunks one request may ask for.
pub const MAX_CHUNKS_PER_REQUEST: usize = 256;

/// `POST /dp/v1/demand`: a client asked this DP for content it does not hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandRequest {
    pub object_type: ObjectType,
    pub object_id: i64,
    /// The client's address.
    pub client: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Demanded {
    /// The DP holds the newest version it was given.
    Present,
    /// The DP has been asked to fetch it (now or before).
    Coming,
    /// The content has no version yet: one is being made; ask again.
    Preparing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandResponse {
    pub state: Demanded,
    pub detail: String,
}

/// `POST /dp/v1/report`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    pub assignment_id: i64,
    pub generation: i32,
    pub state: ReportedState,
    /// The version the report is about.
    pub version_id: Option<i64>,
    pub bytes_total: Option<u64>,
    pub bytes_needed: Option<u64>,
    pub bytes_done: u64,
    pub rate_bps: Option<u64>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportedState {
    InProgress,
    /// Every file of the version is in place and matched its SHA-256.
    Installed,
    Failed,
    /// A validation found every file whole.
    Valid,
    /// A validation found damage (the detail names the files).
    Invalid,
    Removed,
}
