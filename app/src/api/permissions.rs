//! What every server function requires, declared in one place. The server's coverage test
//! enumerates the registered server functions and fails when one is missing here, when a user
//! without a declared permission gets past it, or when a user with exactly the declared
//! permissions is refused. The checks themselves are in the domain's capability handles.

use domain::authz::{ObjectType as T, Operation as O};
use leptos::server_fn::ServerFn;

use super::{boot, dashboard, distribution, drivers, images, jobs, security, session, uploads};

/// What a server function needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Callable without a session.
    Public,
    /// Any signed-in user.
    SignedIn,
    /// Every one of these permissions.
    All(&'static [(T, O)]),
    /// At least one of these permissions.
    Any(&'static [(T, O)]),
}

/// One server function: its path, what it needs, and a request body it accepts (for the
/// coverage test). Samples name the test's objects as `{placeholders}` (`{boot}`, `{driver}`,
/// `{victim}`, … and the caller's own `{my_upload}`, `{my_token}`): with exactly the declared
/// rights a call must succeed, or fail only with its own validation error for the minimal
/// input; with one of them missing, or on an object outside the caller's scopes, it must be
/// refused.
#[derive(Debug, Clone, Copy)]
pub struct Declared {
    pub path: &'static str,
    pub needs: Needs,
    pub sample: &'static str,
}

const fn declare(path: &'static str, needs: Needs, sample: &'static str) -> Declared {
    Declared {
        path,
        needs,
        sample,
    }
}

const ADD_ANYTHING: Needs = Needs::Any(&[
    (T::BootImage, O::Create),
    (T::OsImage, O::Create),
    (T::DriverPackage, O::Create),
]);

/// The sample of a websocket server function: the test opens a real connection instead.
pub const WEBSOCKET: &str = "(websocket)";

/// Every server function.
pub const DECLARED: &[Declared] = &[
    // Session and dashboard.
    declare(<session::SignIn as ServerFn>::PATH, Needs::Public, ""),
    declare(
        <session::CompleteSetup as ServerFn>::PATH,
        Needs::Public,
        "",
    ),
    declare(<session::SignOut as ServerFn>::PATH, Needs::SignedIn, ""),
    declare(<session::Whoami as ServerFn>::PATH, Needs::SignedIn, ""),
    declare(
        <dashboard::DashboardStatus as ServerFn>::PATH,
        Needs::SignedIn,
        "",
    ),
    // Images.
    declare(
        <images::ListImages as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Read)]),
        "kind=boot",
    ),
    declare(
        <images::ImageDetail as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Read)]),
        "kind=boot&id={boot}",
    ),
    declare(
        <images::BrowseImage as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Read)]),
        "kind=boot&id={boot}&index=1&dir=%2F",
    ),
    declare(
        <images::PreviewImageSource as ServerFn>::PATH,
        Needs::Any(&[(T::BootImage, O::Create), (T::OsImage, O::Create)]),
        "source=%2Fnowhere.wim",
    ),
    declare(
        <images::ImportImage as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Create)]),
        "kind=boot&source=%2Fnowhere.wim",
    ),
    declare(
        <images::EditImage as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Modify)]),
        "kind=boot&id={boot}&name=&version=&comment=&row_version=1",
    ),
    declare(
        <images::DeleteImage as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Delete)]),
        "kind=boot&id={spare_boot}&row_version=1",
    ),
    declare(
        <images::ServiceImage as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Validate)]),
        "kind=boot&id={boot}&action=verify",
    ),
    declare(
        <images::UpdateDefaultBootImages as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Create), (T::BootImage, O::Modify)]),
        "",
    ),
    // Drivers.
    declare(
        <drivers::ListDrivers as ServerFn>::PATH,
        Needs::All(&[(T::Driver, O::Read), (T::DriverPackage, O::Read)]),
        "",
    ),
    declare(
        <drivers::DriverDetail as ServerFn>::PATH,
        Needs::All(&[(T::Driver, O::Read), (T::DriverPackage, O::Read)]),
        "id={driver}",
    ),
    declare(
        <drivers::ImportDrivers as ServerFn>::PATH,
        Needs::All(&[(T::DriverPackage, O::Create), (T::Driver, O::Create)]),
        "source=%2Fnowhere",
    ),
    declare(
        <drivers::SetDriverEnabled as ServerFn>::PATH,
        Needs::All(&[(T::Driver, O::Modify)]),
        "id={driver}&enabled=true&row_version=1",
    ),
    declare(
        <drivers::SetDriverCategories as ServerFn>::PATH,
        Needs::All(&[(T::Driver, O::Modify)]),
        "id={driver}&row_version=1&categories={long_category}",
    ),
    declare(
        <drivers::DeleteDriver as ServerFn>::PATH,
        Needs::All(&[(T::Driver, O::Delete)]),
        "id={spare_driver}&row_version=1",
    ),
    declare(
        <drivers::BootImageDrivers as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Read), (T::Driver, O::Read)]),
        "image_id={boot}",
    ),
    declare(
        <drivers::AddBootImageDriver as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Modify), (T::Driver, O::Read)]),
        "image_id={boot2}&driver_id={driver}",
    ),
    declare(
        <drivers::RemoveBootImageDriver as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Modify)]),
        "image_id={boot2}&driver_id={driver}",
    ),
    declare(
        <drivers::ApplyBootImageDrivers as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Modify)]),
        "image_id={boot2}",
    ),
    // Boot image recipes and revisions.
    declare(
        <boot::BootImageRecipe as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Read)]),
        "image_id={boot}",
    ),
    declare(
        <boot::CustomizeBootImage as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Modify)]),
        "image_id={boot}&recipe_version=1&command_support=on&scratch_mb=128",
    ),
    declare(
        <boot::BuildBootImage as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Modify)]),
        "image_id={boot3}",
    ),
    declare(
        <boot::ReloadBootImage as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Modify)]),
        "image_id={boot4}",
    ),
    declare(
        <boot::ChangeBootImageSource as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Modify)]),
        "image_id={boot5}&path=%2Fnowhere.wim&index=1",
    ),
    declare(
        <boot::BootImageSourceVersion as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Read)]),
        "image_id={boot}",
    ),
    declare(
        <boot::BootImageDiff as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Read)]),
        "image_id={boot6}&from=1&to=1",
    ),
    declare(
        <boot::RollbackBootImage as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Modify)]),
        "image_id={boot6}&revision=1",
    ),
    declare(
        <boot::CreateShellImage as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Read), (T::BootImage, O::Create)]),
        "image_id={boot6}&shell=capture&name=Capture",
    ),
    declare(
        <boot::BootImageSchedules as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Read), (T::Job, O::Read)]),
        "image_id={boot}",
    ),
    declare(
        <boot::ScheduleBootImageRebuild as ServerFn>::PATH,
        Needs::All(&[(T::BootImage, O::Modify), (T::Job, O::Administer)]),
        "image_id={boot}&spec_kind=interval&spec=1d",
    ),
    declare(
        <boot::BootImagesForOsImage as ServerFn>::PATH,
        Needs::All(&[(T::OsImage, O::Read), (T::BootImage, O::Read)]),
        "image_id={os}",
    ),
    // Jobs.
    declare(
        <jobs::ListJobs as ServerFn>::PATH,
        Needs::All(&[(T::Job, O::Read)]),
        "",
    ),
    declare(
        <jobs::JobDetail as ServerFn>::PATH,
        Needs::All(&[(T::Job, O::Read)]),
        "id={job}",
    ),
    declare(
        <jobs::JobPoll as ServerFn>::PATH,
        Needs::All(&[(T::Job, O::Read)]),
        "id={job}",
    ),
    declare(
        <jobs::JobLog as ServerFn>::PATH,
        Needs::All(&[(T::Job, O::Read)]),
        "id={job}",
    ),
    declare(
        <jobs::WatchJob as ServerFn>::PATH,
        Needs::All(&[(T::Job, O::Read)]),
        WEBSOCKET,
    ),
    declare(
        <jobs::RunningJobCount as ServerFn>::PATH,
        Needs::All(&[(T::Job, O::Read)]),
        "",
    ),
    declare(
        <jobs::CancelJob as ServerFn>::PATH,
        Needs::Any(&[(T::Job, O::Administer), (T::Job, O::Modify)]),
        "id={queued_job}",
    ),
    declare(
        <jobs::RetryJob as ServerFn>::PATH,
        Needs::Any(&[(T::Job, O::Administer), (T::Job, O::Modify)]),
        "id={cancelled_job}",
    ),
    declare(
        <jobs::StartStorageCheck as ServerFn>::PATH,
        Needs::All(&[(T::Job, O::Administer)]),
        "size_mib=0",
    ),
    declare(
        <jobs::StartPruneJobs as ServerFn>::PATH,
        Needs::All(&[(T::Job, O::Administer)]),
        "older_than_days=0",
    ),
    declare(
        <jobs::ListSchedules as ServerFn>::PATH,
        Needs::All(&[(T::Job, O::Read)]),
        "",
    ),
    declare(
        <jobs::CreateSchedule as ServerFn>::PATH,
        Needs::All(&[(T::Job, O::Administer)]),
        "name=x&kind=nothing&spec_kind=cron&spec=x",
    ),
    declare(
        <jobs::SetScheduleEnabled as ServerFn>::PATH,
        Needs::All(&[(T::Job, O::Administer)]),
        "id={schedule}&enabled=false",
    ),
    declare(
        <jobs::DeleteSchedule as ServerFn>::PATH,
        Needs::All(&[(T::Job, O::Administer)]),
        "id={spare_schedule}",
    ),
    // Uploads (sources of new images and driver packages).
    declare(
        <uploads::BeginUpload as ServerFn>::PATH,
        ADD_ANYTHING,
        "file_name=x.wim&size_bytes=1",
    ),
    declare(
        <uploads::UploadStatus as ServerFn>::PATH,
        ADD_ANYTHING,
        "id={my_upload}",
    ),
    declare(<uploads::ListUploads as ServerFn>::PATH, ADD_ANYTHING, ""),
    declare(
        <uploads::DiscardUpload as ServerFn>::PATH,
        ADD_ANYTHING,
        "id={my_spare_upload}",
    ),
    // Distribution points, groups, and the distribution of content.
    declare(
        <distribution::ListDistributionPoints as ServerFn>::PATH,
        Needs::All(&[(T::DistributionPoint, O::Read)]),
        "",
    ),
    declare(
        <distribution::CreateDistributionPoint as ServerFn>::PATH,
        Needs::All(&[(T::DistributionPoint, O::Create)]),
        "name=New+DP&description=&boundaries=10.1.0.0/16",
    ),
    declare(
        <distribution::DistributionPointDetail as ServerFn>::PATH,
        Needs::All(&[(T::DistributionPoint, O::Read)]),
        "id={dp}",
    ),
    declare(
        <distribution::EditDistributionPoint as ServerFn>::PATH,
        Needs::All(&[(T::DistributionPoint, O::Modify)]),
        "id={dp}&row_version=1&name=Branch+A&enabled=on&description=&boundaries=",
    ),
    declare(
        <distribution::NewEnrollmentToken as ServerFn>::PATH,
        Needs::All(&[(T::DistributionPoint, O::Modify)]),
        "id={dp}",
    ),
    declare(
        <distribution::RevokeDistributionPoint as ServerFn>::PATH,
        Needs::All(&[(T::DistributionPoint, O::Modify)]),
        "id={spare_dp}",
    ),
    declare(
        <distribution::DeleteDistributionPoint as ServerFn>::PATH,
        Needs::All(&[(T::DistributionPoint, O::Delete)]),
        "id={spare_dp2}&row_version=1",
    ),
    declare(
        <distribution::CreateDpGroup as ServerFn>::PATH,
        Needs::All(&[(T::DistributionPoint, O::Create)]),
        "name=New+group&description=",
    ),
    declare(
        <distribution::SetDpGroupMembers as ServerFn>::PATH,
        Needs::All(&[(T::DistributionPoint, O::Modify)]),
        "id={group}&members={dp}",
    ),
    declare(
        <distribution::DeleteDpGroup as ServerFn>::PATH,
        Needs::All(&[(T::DistributionPoint, O::Delete)]),
        "id={spare_group}",
    ),
    declare(
        <distribution::ContentDistribution as ServerFn>::PATH,
        Needs::All(&[(T::OsImage, O::Read)]),
        "object_type=os-image&object_id={os}",
    ),
    declare(
        <distribution::DistributeContent as ServerFn>::PATH,
        Needs::All(&[
            (T::OsImage, O::Distribute),
            (T::DistributionPoint, O::Distribute),
        ]),
        "object_type=os-image&object_id={os}&dps={dp}",
    ),
    declare(
        <distribution::DistributionTargets as ServerFn>::PATH,
        Needs::All(&[
            (T::OsImage, O::Distribute),
            (T::DistributionPoint, O::Distribute),
        ]),
        "object_type=os-image&object_id={os}&q=branch",
    ),
    declare(
        <distribution::UpdateDistributionPoints as ServerFn>::PATH,
        Needs::All(&[
            (T::OsImage, O::Distribute),
            (T::DistributionPoint, O::Distribute),
        ]),
        "object_type=os-image&object_id={os}",
    ),
    declare(
        <distribution::ContentOnDp as ServerFn>::PATH,
        Needs::All(&[
            (T::OsImage, O::Distribute),
            (T::DistributionPoint, O::Distribute),
        ]),
        "object_type=os-image&object_id={os}&dp={dp}&action=redistribute",
    ),
    declare(
        <distribution::SetDistributionSettings as ServerFn>::PATH,
        Needs::All(&[(T::OsImage, O::Modify)]),
        "object_type=os-image&object_id={os}&priority=high&prestaged=automatic",
    ),
    declare(
        <distribution::DistributionHistory as ServerFn>::PATH,
        Needs::All(&[(T::OsImage, O::Read), (T::DistributionPoint, O::Read)]),
        "object_type=os-image&object_id={os}&dp={dp}",
    ),
    declare(
        <distribution::prestaged::PrestagedFiles as ServerFn>::PATH,
        Needs::SignedIn,
        "",
    ),
    declare(
        <distribution::prestaged::CreatePrestagedFile as ServerFn>::PATH,
        Needs::All(&[(T::OsImage, O::Distribute)]),
        "contents=os-image:{os}",
    ),
    declare(
        <distribution::prestaged::DeletePrestagedFile as ServerFn>::PATH,
        Needs::All(&[(T::OsImage, O::Distribute)]),
        "name={prestaged}",
    ),
    declare(
        <distribution::DistributionStatus as ServerFn>::PATH,
        Needs::All(&[(T::DistributionPoint, O::Read)]),
        "",
    ),
    declare(
        <distribution::live::WatchDistribution as ServerFn>::PATH,
        Needs::Any(&[
            (T::DistributionPoint, O::Read),
            (T::BootImage, O::Read),
            (T::OsImage, O::Read),
            (T::DriverPackage, O::Read),
        ]),
        WEBSOCKET,
    ),
    // Security administration, the audit log, the caller's account.
    declare(
        <security::ListUsers as ServerFn>::PATH,
        Needs::All(&[(T::Security, O::Read)]),
        "",
    ),
    declare(
        <security::CreateUser as ServerFn>::PATH,
        Needs::All(&[(T::Security, O::Create)]),
        "username=someone&password=x&role_id={empty_role}&scopes=all",
    ),
    declare(
        <security::SetUserDisabled as ServerFn>::PATH,
        Needs::All(&[(T::Security, O::Modify)]),
        "user_id={victim}&disabled=false",
    ),
    declare(
        <security::ResetUserPassword as ServerFn>::PATH,
        Needs::All(&[(T::Security, O::Modify)]),
        "user_id={victim}&password=x",
    ),
    declare(
        <security::AssignRole as ServerFn>::PATH,
        Needs::All(&[(T::Security, O::Administer)]),
        "user_id={victim}&role_id={empty_role2}&scopes=all",
    ),
    declare(
        <security::UnassignRole as ServerFn>::PATH,
        Needs::All(&[(T::Security, O::Administer)]),
        "assignment_id={spare_assignment}",
    ),
    declare(
        <security::ListRoles as ServerFn>::PATH,
        Needs::All(&[(T::Security, O::Read)]),
        "",
    ),
    declare(
        <security::CopyRole as ServerFn>::PATH,
        Needs::All(&[(T::Security, O::Create)]),
        "from={empty_role}&name=&description=",
    ),
    declare(
        <security::EditRole as ServerFn>::PATH,
        Needs::All(&[(T::Security, O::Modify)]),
        "id={empty_role}&name=&description=&permissions=&row_version=1",
    ),
    declare(
        <security::DeleteRole as ServerFn>::PATH,
        Needs::All(&[(T::Security, O::Delete)]),
        "id={spare_role}",
    ),
    declare(
        <security::ListScopes as ServerFn>::PATH,
        Needs::All(&[(T::Security, O::Read)]),
        "",
    ),
    declare(
        <security::CreateScope as ServerFn>::PATH,
        Needs::All(&[(T::Security, O::Create)]),
        "name=&description=",
    ),
    declare(
        <security::EditScope as ServerFn>::PATH,
        Needs::All(&[(T::Security, O::Modify)]),
        "id={scope}&name=&description=&row_version=1",
    ),
    declare(
        <security::DeleteScope as ServerFn>::PATH,
        Needs::All(&[(T::Security, O::Delete)]),
        "id={spare_scope}",
    ),
    declare(
        <security::ObjectSecurity as ServerFn>::PATH,
        SCOPED_READ,
        "object_type=boot-image&id={boot}",
    ),
    declare(
        <security::SetObjectScopes as ServerFn>::PATH,
        SCOPED_SET_SCOPE,
        "object_type=boot-image&id={boot}&scopes={production}",
    ),
    declare(
        <security::SearchAudit as ServerFn>::PATH,
        Needs::All(&[(T::AuditLog, O::Read)]),
        "",
    ),
    declare(<security::MyAccount as ServerFn>::PATH, Needs::SignedIn, ""),
    declare(
        <security::CreateApiToken as ServerFn>::PATH,
        Needs::SignedIn,
        "name=x&valid_days=0",
    ),
    declare(
        <security::RevokeApiToken as ServerFn>::PATH,
        Needs::SignedIn,
        "id={my_token}",
    ),
    declare(
        <security::ConfirmPassword as ServerFn>::PATH,
        Needs::SignedIn,
        "password={password}",
    ),
];

/// Reading the scopes and rights of any scoped object (the Security tab).
const SCOPED_READ: Needs = Needs::Any(&[
    (T::BootImage, O::Read),
    (T::OsImage, O::Read),
    (T::DriverPackage, O::Read),
    (T::DistributionPoint, O::Read),
]);

/// Moving any scoped object between security scopes.
const SCOPED_SET_SCOPE: Needs = Needs::Any(&[
    (T::BootImage, O::SetSecurityScope),
    (T::OsImage, O::SetSecurityScope),
    (T::DriverPackage, O::SetSecurityScope),
    (T::DistributionPoint, O::SetSecurityScope),
]);

/// The prefix of the upload route, `/api/uploads/{id}` (chunks of a file, not a server
/// function).
pub const UPLOAD_ROUTE: &str = "/api/uploads/";
/// The path of the audit log export (a file download, not a server function).
pub const AUDIT_EXPORT_ROUTE: &str = "/api/export_audit";

/// Where prestaged content files are downloaded (`/api/prestaged/<name>`; a file download, not
/// a server function): Distribute on every content the file holds.
pub const PRESTAGED_ROUTE: &str = "/api/prestaged/";

/// The HTTP routes under `/api/` that are not server functions; each has its own tests.
pub const ROUTES: &[Declared] = &[
    declare(UPLOAD_ROUTE, ADD_ANYTHING, ""),
    declare(
        AUDIT_EXPORT_ROUTE,
        Needs::All(&[(T::AuditLog, O::Read)]),
        "format=csv",
    ),
    declare(
        PRESTAGED_ROUTE,
        Needs::All(&[(T::OsImage, O::Distribute)]),
        "{prestaged}",
    ),
];

/// What `path` needs, if it is declared.
pub fn declared(path: &str) -> Option<&'static Declared> {
    DECLARED.iter().find(|d| d.path == path).or_else(|| {
        ROUTES
            .iter()
            .find(|d| d.path == path || (d.path.ends_with('/') && path.starts_with(d.path)))
    })
}
