//! The schoolgate web console: staff sign in, see their school, and (in later parts) work
//! the incident log and registers.
//!
//! Pages are rendered on the server from askama templates, so that they work without
//! JavaScript, on a phone and with a screen reader. The crate owns the things every page
//! relies on: sessions that lock after 20 idle minutes (the policies' "lock-out after 20
//! minutes idle time"), CSRF protection on every form, sign-in throttling ("no more than 10
//! guesses in 5 minutes", DfE cyber security standard, DFE-CS-04), a TOTP second factor
//! required of administrators and safeguarding roles (DFE-CS-05), and `/healthz`. Who may
//! do what is decided in `register`, never in a template.
//!
//! ```no_run
//! # async fn f(store: store::Store, school: register::people::SchoolId) -> std::io::Result<()> {
//! let engine = std::sync::Arc::new(policy::Engine::new(policy::SnapshotBuilder::new(1).build()));
//! let filter = console::Filter { engine, seed: 1 };
//! let state = console::AppState::new(store, school, console::Config::default(), console::HealthBoard::new(), filter);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! console::serve(listener, state, std::future::pending()).await?;
//! # Ok(()) }
//! ```

pub mod concerns;
mod error;
mod filtering;
mod health;
pub mod incidents;
mod logs;
pub mod monitoring;
pub mod pac;
mod pages;
pub mod registers;
mod sign_in;
mod templates;
pub mod unblock;
mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use register::people::SchoolId;
use register::roles::SecondFactorRule;
use store::Store;

pub use error::ConsoleError;
pub use health::{ComponentHealth, HealthBoard};
pub use web::{random_token, token_hash};

/// How the console behaves. Built by the binary from the configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The address people use to reach the console, for links (`http://10.0.0.5:8080`).
    /// Cookies are marked `Secure` when it is `https://`.
    pub public_url: String,
    /// A session unused for this long is locked and must sign in again.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, however busy.
    pub session_lifetime: Duration,
    pub sign_in: SignInLimits,
    /// Who must use a second factor.
    pub second_factor: SecondFactorRule,
    /// What `/proxy.pac` tells browsers.
    pub pac: pac::Pac,
    /// Where files attached to incidents are kept (under their SHA-256); `None`: no
    /// attachments (some tests).
    pub attachments: Option<std::path::PathBuf>,
    /// The local authority designated officer's contact details, shown on records about
    /// staff and the headteacher.
    pub lado: String,
    /// The school's own actions, offered beside the fixed list.
    pub extra_actions: Vec<String>,
    /// Years a record not about pupils is kept before review.
    pub retain_other_years: i64,
    /// The first day of the academic year, from which agreements and consent renew.
    pub year_start: register::agreements::YearStart,
}

/// The school's calendar day (UK local time) at `unix`: the day registers count from.
pub fn uk_today(unix: i64) -> time::Date {
    store::uk_day(unix)
}

/// How failed sign-ins are slowed and then refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInLimits {
    /// Failed attempts on one username within `window` after which it is locked.
    pub max_failures: u32,
    pub window: Duration,
    /// Failures after which each further attempt is answered more slowly.
    pub slow_after: u32,
    /// Added delay per failure past `slow_after`, capped at five seconds.
    pub slow_step: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            public_url: "http://127.0.0.1:8080".into(),
            idle_timeout: Duration::from_secs(20 * 60),
            session_lifetime: Duration::from_secs(10 * 60 * 60),
            sign_in: SignInLimits::default(),
            second_factor: SecondFactorRule::default(),
            pac: pac::Pac::default(),
            attachments: None,
            lado: String::new(),
            extra_actions: Vec::new(),
            retain_other_years: 6,
            year_start: register::agreements::YearStart::default(),
        }
    }
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits {
            max_failures: 10,
            window: Duration::from_secs(5 * 60),
            slow_after: 3,
            slow_step: Duration::from_millis(500),
        }
    }
}

impl Config {
    fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    filter: Filter,
    /// The school this console serves first: where sign-in failures for unknown usernames
    /// are audited, and whose name the sign-in page shows.
    school: SchoolId,
    config: Config,
    health: HealthBoard,
    block_pages: Option<unblock::BlockPages>,
    /// Raises alerts from the ingest API and "Worried?" messages; `None` where monitoring
    /// is not running (some tests).
    concerns: Option<concerns::Concerns>,
    worried: monitoring::WorriedLimit,
}

/// The filter engine the console reads and reloads after a policy change.
#[derive(Debug, Clone)]
pub struct Filter {
    pub engine: Arc<policy::Engine>,
    /// The fingerprint seed every snapshot of this process is built with.
    pub seed: u64,
}

impl AppState {
    pub fn new(store: Store, school: SchoolId, config: Config, health: HealthBoard, filter: Filter) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                store,
                filter,
                school,
                config,
                health,
                block_pages: None,
                concerns: None,
                worried: monitoring::WorriedLimit::default(),
            }),
        }
    }

    /// With the gateways' side of the block page: who is at an address, and the key the
    /// proxy signs its links with. Call before the state is first cloned.
    pub fn with_block_pages(mut self, pages: unblock::BlockPages) -> AppState {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.block_pages = Some(pages),
            None => tracing::error!("block pages set after the console state was shared; ignored"),
        }
        self
    }

    /// With the alert-raising service. Call before the state is first cloned.
    pub fn with_concerns(mut self, concerns: concerns::Concerns) -> AppState {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.concerns = Some(concerns),
            None => tracing::error!("monitoring set after the console state was shared; ignored"),
        }
        self
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    fn config(&self) -> &Config {
        &self.inner.config
    }
}

/// Every route of the console.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/healthz", get(health::healthz))
        .route("/proxy.pac", get(pac::pac_file))
        .route("/wpad.dat", get(pac::pac_file))
        .route("/static/app.css", get(pages::stylesheet))
        .route("/sign-in", get(sign_in::sign_in_page).post(sign_in::sign_in))
        .route(
            "/sign-in/second-factor",
            get(sign_in::second_factor_page).post(sign_in::second_factor),
        )
        .route("/sign-in/enrol", get(sign_in::enrol_page).post(sign_in::enrol))
        .route(
            "/sign-in/new-password",
            get(sign_in::new_password_page).post(sign_in::new_password),
        )
        .route("/sign-out", post(sign_in::sign_out))
        .route("/setup/{token}", get(sign_in::setup_page).post(sign_in::setup))
        .route("/dashboard", get(pages::dashboard))
        .route("/people", get(pages::people))
        .route("/logs", get(logs::log))
        .route("/filtering", get(filtering::overview))
        .route("/filtering/test", get(filtering::test_site))
        .route("/filtering/lists", get(filtering::lists))
        .route(
            "/filtering/groups/{group}",
            get(filtering::group_page).post(filtering::save_group),
        )
        .route("/filtering/requests", get(unblock::requests_page))
        .route("/filtering/requests/{id}", post(unblock::answer_request))
        .route("/blocked", get(unblock::blocked_page).post(unblock::request_unblock))
        .route("/monitor/alerts", get(monitoring::alerts_page))
        .route(
            "/monitor/alerts/{id}",
            get(monitoring::alert_page).post(monitoring::triage),
        )
        .route(
            "/monitor/settings",
            get(monitoring::settings_page).post(monitoring::save_settings),
        )
        .route("/worried", get(monitoring::worried_page).post(monitoring::worried))
        .route("/incidents", get(incidents::list))
        .route("/incidents/new", get(incidents::new_page).post(incidents::create))
        .route("/incidents/report", get(incidents::report))
        .route("/incidents/report.csv", get(incidents::report_csv))
        .route("/incidents/{id}", get(incidents::detail).post(incidents::work))
        .route("/incidents/{id}/seal", post(incidents::seal))
        .route(
            "/incidents/{id}/attachments",
            post(incidents::attach).layer(axum::extract::DefaultBodyLimit::max(
                incidents::MAX_ATTACHMENT + 64 * 1024,
            )),
        )
        .route("/incidents/{id}/attachments/{aid}", get(incidents::attachment))
        .route("/people/{id}/record", get(incidents::person_record))
        .route("/people/{id}/record/export", get(incidents::export_record))
        .route("/people/{id}/monitored", post(incidents::flag_monitored))
        .route(
            "/agreement",
            get(registers::own_agreement).post(registers::sign_own_agreement),
        )
        .route("/registers", get(registers::due_page))
        .route("/registers/agreements", get(registers::agreements))
        .route("/registers/agreements.csv", get(registers::agreements_csv))
        .route("/registers/agreements/publish", post(registers::publish_agreement))
        .route("/registers/agreements/gate", post(registers::set_gate))
        .route("/registers/agreements/sign", post(registers::record_signature))
        .route("/registers/agreements/remind", post(registers::remind))
        .route("/registers/photos", get(registers::photos))
        .route(
            "/registers/consent/{id}",
            get(registers::consent).post(registers::record_consent),
        )
        .route("/registers/consent.csv", get(registers::consent_csv))
        .route(
            "/registers/consent/import",
            post(registers::import_consent).layer(axum::extract::DefaultBodyLimit::max(registers::MAX_CSV + 64 * 1024)),
        )
        .route(
            "/registers/training",
            get(registers::training).post(registers::record_training),
        )
        .route("/registers/training.csv", get(registers::training_csv))
        .route("/registers/training/remind", post(registers::remind_training))
        .route(
            "/registers/training/{id}/evidence",
            post(registers::training_evidence).layer(axum::extract::DefaultBodyLimit::max(
                incidents::MAX_ATTACHMENT + 64 * 1024,
            )),
        )
        .route(
            "/registers/assets",
            get(registers::assets).post(registers::save_hardware),
        )
        .route(
            "/registers/assets/import",
            post(registers::import_hardware)
                .layer(axum::extract::DefaultBodyLimit::max(registers::MAX_CSV + 64 * 1024)),
        )
        .route("/registers/assets/{id}", get(registers::asset))
        .route("/registers/assets/{id}/loan", post(registers::loan))
        .route("/registers/assets/{id}/dispose", post(registers::dispose))
        .route("/registers/hardware.csv", get(registers::hardware_csv))
        .route("/registers/software", post(registers::add_software))
        .route("/registers/software.csv", get(registers::software_csv))
        .route(
            "/registers/confiscations",
            get(registers::confiscations).post(registers::confiscate),
        )
        .route("/registers/reviews", get(registers::reviews))
        .route("/registers/reviews.csv", get(registers::reviews_csv))
        .route(
            "/registers/reviews/{kind}/evidence",
            post(registers::review_evidence).layer(axum::extract::DefaultBodyLimit::max(
                incidents::MAX_ATTACHMENT + 64 * 1024,
            )),
        )
        .route("/registers/files/{id}", get(registers::register_file))
        .route("/registers/confiscations.csv", get(registers::confiscations_csv))
        .route(
            "/registers/reviews/{kind}",
            get(registers::review).post(registers::work_review),
        )
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), web::csrf))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            unblock::foreign_host,
        ))
        .layer(axum::middleware::from_fn(web::security_headers))
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024))
        // Other systems call the API with a token, not a browser session: outside the CSRF
        // check and the block-page redirect; it reads its own body up to its own limit.
        .route("/api/v1/monitor/text", post(monitoring::ingest))
        .with_state(state)
}

/// Serves the console until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
