//! The Jobs area: the list, one job's live page, and schedules.

mod detail;
mod list;
mod schedules;
pub(crate) mod widgets;

pub use detail::JobDetailPage;
pub use list::JobsPage;
pub use schedules::SchedulesPage;
pub use widgets::RunningIndicator;
