//! sea-orm entities, one module per table. Crate-private: callers see domain types.

pub(crate) mod api_tokens;
pub(crate) mod assignment_scopes;
pub(crate) mod audit_log;
pub(crate) mod boot_image_drivers;
pub(crate) mod boot_images;
pub(crate) mod boot_revisions;
pub(crate) mod driver_categories;
pub(crate) mod driver_packages;
pub(crate) mod drivers;
pub(crate) mod held_files;
pub(crate) mod images;
pub(crate) mod job_holds;
pub(crate) mod job_logs;
pub(crate) mod jobs;
pub(crate) mod object_scopes;
pub(crate) mod pending_outputs;
pub(crate) mod role_assignments;
pub(crate) mod schedules;
pub(crate) mod security_roles;
pub(crate) mod security_scopes;
pub(crate) mod sessions;
pub(crate) mod uploads;
pub(crate) mod users;
