//! Filtering and paging of the distribution lists: with hundreds of DPs, a page shows a
//! window of what matches, problems first, and says how much matched.

use serde::{Deserialize, Serialize};

use super::{
    assign::DistState,
    points::{DistributionPoint, DpHealth},
    status::{PairStatus, Summary},
};
use crate::{Error, Result};

/// The most rows a page lists at once.
pub const MAX_PAGE_SIZE: usize = 200;

/// A window of the rows that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub rows: Vec<T>,
    /// How many rows matched, in all.
    pub matched: usize,
    /// The first row's position among them (0-based).
    pub offset: usize,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            rows: self.rows.into_iter().map(f).collect(),
            matched: self.matched,
            offset: self.offset,
        }
    }
}

/// Which rows of a list a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub offset: usize,
    pub limit: usize,
}

impl Window {
    /// The `page`th window (from 1) of `size` rows (at most [`MAX_PAGE_SIZE`]).
    pub fn page(page: usize, size: usize) -> Self {
        let limit = size.clamp(1, MAX_PAGE_SIZE);
        Self {
            offset: page.max(1).saturating_sub(1).saturating_mul(limit),
            limit,
        }
    }

    pub fn cut<T>(self, rows: Vec<T>) -> Page<T> {
        let matched = rows.len();
        // Past the end: the last page, not an empty one (a filter may have shrunk the list).
        let offset = if self.offset < matched {
            self.offset
        } else {
            matched.saturating_sub(1) / self.limit * self.limit
        };
        Page {
            rows: rows.into_iter().skip(offset).take(self.limit).collect(),
            matched,
            offset,
        }
    }
}

/// The words a list is filtered by: a row matches when each is in one of its fields
/// (case-insensitive). No words match every row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Words(Vec<String>);

impl Words {
    pub fn new(text: &str) -> Self {
        Self(text.split_whitespace().map(str::to_lowercase).collect())
    }

    pub fn found_in(&self, fields: &[&str]) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let fields: Vec<String> = fields.iter().map(|f| f.to_lowercase()).collect();
        self.0
            .iter()
            .all(|word| fields.iter().any(|f| f.contains(word.as_str())))
    }
}

/// The states a page filters pairs by: those a [`Summary`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StateGroup {
    Failed,
    InProgress,
    Waiting,
    Success,
}

impl StateGroup {
    pub const ALL: [StateGroup; 4] = [
        StateGroup::Failed,
        StateGroup::InProgress,
        StateGroup::Waiting,
        StateGroup::Success,
    ];

    pub fn of(state: DistState) -> Self {
        match state {
            DistState::Failed | DistState::ValidationFailed => StateGroup::Failed,
            DistState::InProgress => StateGroup::InProgress,
            DistState::Waiting | DistState::Removing => StateGroup::Waiting,
            DistState::Success => StateGroup::Success,
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            StateGroup::Failed => "failed",
            StateGroup::InProgress => "in-progress",
            StateGroup::Waiting => "waiting",
            StateGroup::Success => "success",
        }
    }

    /// `""` is any state.
    pub fn parse(text: &str) -> Result<Option<Self>> {
        if text.is_empty() {
            return Ok(None);
        }
        Self::ALL
            .into_iter()
            .find(|g| g.slug() == text)
            .map(Some)
            .ok_or_else(|| {
                Error::invalid(
                    "state",
                    "is not a state to filter by: choose Failed, In progress, Waiting or Success",
                )
            })
    }
}

/// Which content × DP pairs a page lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairFilter {
    pub state: Option<StateGroup>,
    /// Found in the content's or the DP's name.
    pub words: Words,
}

/// Pairs that matched, problems first (failed, in progress, waiting, in place), then by
/// content and DP; the summary counts every pair given, matched or not.
pub fn pairs(
    all: Vec<PairStatus>,
    filter: &PairFilter,
    window: Window,
) -> (Page<PairStatus>, Summary) {
    let mut summary = Summary::default();
    let mut rows: Vec<PairStatus> = all
        .into_iter()
        .inspect(|p| summary.add(p.state))
        .filter(|p| filter.state.is_none_or(|s| StateGroup::of(p.state) == s))
        .filter(|p| filter.words.found_in(&[&p.content_name, &p.dp_name]))
        .collect();
    rows.sort_by(|a, b| {
        (
            StateGroup::of(a.state),
            &a.content_name,
            &a.dp_name,
            a.dp_id,
        )
            .cmp(&(
                StateGroup::of(b.state),
                &b.content_name,
                &b.dp_name,
                b.dp_id,
            ))
    });
    (window.cut(rows), summary)
}

/// Which DPs a page lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DpFilter {
    pub health: Option<DpHealth>,
    /// Found in the DP's name or description.
    pub words: Words,
}

impl DpFilter {
    /// `health`: `""` for any, else a [`DpHealth`] in kebab-case.
    pub fn new(health: &str, text: &str) -> Result<Self> {
        let health = match health {
            "" => None,
            other => Some(
                serde_json::from_value(serde_json::Value::String(other.to_owned())).map_err(
                    |_| {
                        Error::invalid(
                            "health",
                            "is not a status to filter by: choose Online, Offline, Not enrolled, Disabled or Revoked",
                        )
                    },
                )?,
            ),
        };
        Ok(Self {
            health,
            words: Words::new(text),
        })
    }
}

/// DPs that matched, in the order given (the list's: by name).
pub fn points(
    all: Vec<DistributionPoint>,
    filter: &DpFilter,
    window: Window,
) -> Page<DistributionPoint> {
    let rows = all
        .into_iter()
        .filter(|dp| filter.health.is_none_or(|h| dp.health == h))
        .filter(|dp| filter.words.found_in(&[&dp.name, &dp.settings.description]))
        .collect();
    window.cut(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_from_one_and_a_page_past_the_end_is_the_last() {
        assert_eq!(
            Window::page(0, 50),
            Window {
                offset: 0,
                limit: 50
            }
        );
        assert_eq!(
            Window::page(3, 50),
            Window {
                offset: 100,
                limit: 50
            }
        );
        assert_eq!(Window::page(1, 10_000).limit, MAX_PAGE_SIZE);
        let page = Window::page(2, 50).cut((0..120).collect());
        assert_eq!((page.rows.len(), page.matched, page.offset), (50, 120, 50));
        assert_eq!(page.rows[0], 50);
        let last = Window::page(9, 50).cut((0..120).collect::<Vec<i32>>());
        assert_eq!((last.rows.len(), last.offset), (20, 100));
        let empty = Window::page(4, 50).cut(Vec::<i32>::new());
        assert_eq!((empty.rows.len(), empty.matched, empty.offset), (0, 0, 0));
        let exact = Window::page(5, 50).cut((0..100).collect::<Vec<i32>>());
        assert_eq!(exact.offset, 50);
    }

    #[test]
    fn every_word_must_be_found_in_some_field() {
        assert!(Words::new("").found_in(&["anything"]));
        assert!(Words::new("  ").found_in(&[]));
        assert!(Words::new("branch LAB").found_in(&["Branch 12", "lab wing"]));
        assert!(!Words::new("branch 13").found_in(&["Branch 12", "lab wing"]));
        assert!(Words::new("größe").found_in(&["GRÖSSE", "Größe"]));
    }

    #[test]
    fn state_groups_parse_their_slugs_and_refuse_others() {
        for group in StateGroup::ALL {
            assert_eq!(
                StateGroup::parse(group.slug()).expect("parses"),
                Some(group)
            );
        }
        assert_eq!(StateGroup::parse("").expect("any"), None);
        let error = StateGroup::parse("<b>done</b>").expect_err("refused");
        assert!(error.to_string().contains("Failed, In progress"), "{error}");
        assert_eq!(
            StateGroup::of(DistState::ValidationFailed),
            StateGroup::Failed
        );
        assert_eq!(StateGroup::of(DistState::Removing), StateGroup::Waiting);
    }

    fn pair(content: &str, dp: &str, dp_id: i64, state: DistState) -> PairStatus {
        PairStatus {
            content_id: 1,
            object: crate::content::ContentObject::new(crate::authz::ObjectType::OsImage, 1),
            content_name: content.to_owned(),
            dp_id,
            dp_name: dp.to_owned(),
            state,
            detail: None,
            target_version: Some(1),
            installed_version: None,
            bytes_total: None,
            bytes_needed: None,
            bytes_done: 0,
            rate_bps: None,
            updated_at_ms: 0,
            validated_at_ms: None,
        }
    }

    #[test]
    fn pairs_list_problems_first_and_the_summary_counts_all() {
        let all = vec![
            pair("Windows 11", "Branch 2", 2, DistState::Success),
            pair("Windows 11", "Branch 1", 1, DistState::Failed),
            pair("WinPE x64", "Branch 1", 1, DistState::Waiting),
            pair("Windows 11", "Lab", 3, DistState::InProgress),
            pair("WinPE x64", "Branch 2", 2, DistState::ValidationFailed),
        ];
        let (page, summary) = pairs(all.clone(), &PairFilter::default(), Window::page(1, 50));
        let order: Vec<(&str, &str)> = page
            .rows
            .iter()
            .map(|p| (p.content_name.as_str(), p.dp_name.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("WinPE x64", "Branch 2"),
                ("Windows 11", "Branch 1"),
                ("Windows 11", "Lab"),
                ("WinPE x64", "Branch 1"),
                ("Windows 11", "Branch 2"),
            ]
        );
        assert_eq!((summary.total, summary.failed, summary.success), (5, 2, 1));

        let failed_on_branch = PairFilter {
            state: Some(StateGroup::Failed),
            words: Words::new("branch 2"),
        };
        let (page, summary) = pairs(all, &failed_on_branch, Window::page(1, 1));
        assert_eq!((page.matched, page.rows.len()), (1, 1));
        assert_eq!(page.rows[0].content_name, "WinPE x64");
        assert_eq!(summary.total, 5);
    }

    #[test]
    fn health_filters_parse_kebab_case() {
        let filter = DpFilter::new("not-enrolled", " lab ").expect("parses");
        assert_eq!(filter.health, Some(DpHealth::NotEnrolled));
        assert_eq!(filter.words, Words::new("lab"));
        assert_eq!(DpFilter::new("", "").expect("any").health, None);
        assert!(DpFilter::new("Online", "").is_err());
    }
}
