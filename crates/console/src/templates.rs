//! The console's pages as typed values; the HTML is in `templates/`.

use askama::Template;
use axum::response::Html;

use crate::error::ConsoleError;

pub(crate) fn render<T: Template>(page: &T) -> Result<Html<String>, ConsoleError> {
    Ok(Html(page.render()?))
}

/// The signed-in person, for the header of every page.
#[derive(Debug, Clone)]
pub(crate) struct Nav {
    pub name: String,
    pub school: String,
    pub people: bool,
    pub filtering: bool,
    pub logs: bool,
    pub alerts: bool,
    /// Staff can record a concern from every page.
    pub record: bool,
    /// The registers (agreements, consent, training, assets, reviews).
    pub registers: bool,
}

#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage<'a> {
    pub title: &'a str,
    pub heading: &'a str,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
pub(crate) struct SignInPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub school: String,
    pub username: String,
    pub next: String,
    pub notice: Option<String>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "second_factor.html")]
pub(crate) struct SecondFactorPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "enrol.html")]
pub(crate) struct EnrolPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub secret: String,
    pub qr_svg: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub(crate) struct RecoveryCodesPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub codes: Vec<String>,
    pub next: String,
}

#[derive(Template)]
#[template(path = "new_password.html")]
pub(crate) struct NewPasswordPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "setup.html")]
pub(crate) struct SetupPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub school: String,
    pub form: SetupForm,
    pub errors: Vec<String>,
    pub roles: Vec<(&'static str, &'static str)>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub(crate) struct SetupForm {
    #[serde(default)]
    pub given_name: String,
    #[serde(default)]
    pub family_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub confirm: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub(crate) struct DashboardPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub school: String,
    pub given_name: String,
    pub roles: Vec<&'static str>,
    pub permissions: Vec<&'static str>,
    pub groups: Vec<GroupRow>,
    pub total: i64,
    pub second_factor: bool,
    pub recovery_codes_left: i64,
    /// Alerts waiting for triage, for those who may see them.
    pub alerts_waiting: Option<i64>,
    /// Emails the mail server has not taken yet: (what, tries, last error).
    pub stuck_mail: Vec<(String, i64, String)>,
    /// Open records in the online safety log this person deals with.
    pub incidents_open: Option<usize>,
    /// Data breaches waiting for the ICO decision: (id, deadline, overdue).
    pub ico_due: Vec<(i64, String, bool)>,
    /// Records past their review date.
    pub past_review: usize,
    /// Follow-ups past their date on records this person deals with: (id, date).
    pub follow_ups: Vec<(i64, String)>,
    /// What is due across the registers, for those who oversee them.
    pub due: Option<Vec<crate::registers::DueRow>>,
    /// The person has not signed this year's acceptable use agreement.
    pub unsigned: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct GroupRow {
    pub name: String,
    pub kind: &'static str,
    pub people: i64,
}

#[derive(Template)]
#[template(path = "people.html")]
pub(crate) struct PeoplePage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub query: String,
    pub leavers: bool,
    pub rows: Vec<PersonRow>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub prev_link: Option<String>,
    pub next_link: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct PersonRow {
    pub name: String,
    pub kind: &'static str,
    pub year: String,
    pub group: String,
    pub class: String,
    pub roles: String,
    pub username: String,
    pub leaver: bool,
}

#[derive(Template)]
#[template(path = "filtering.html")]
pub(crate) struct FilteringPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub groups: Vec<GroupSummaryRow>,
    pub lists: usize,
    pub entries: usize,
    pub illegal_lists: usize,
    pub test: Option<TestResult>,
    pub test_target: String,
    pub test_group: String,
    pub group_names: Vec<String>,
    /// Unblock requests waiting for an answer.
    pub pending_requests: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct GroupSummaryRow {
    pub name: String,
    pub blocks: String,
    pub safe_search: bool,
    pub walled_garden: bool,
    pub updated: String,
}

#[derive(Debug, Clone)]
pub(crate) struct TestResult {
    pub target: String,
    pub group: String,
    pub verdict: &'static str,
    pub blocked: bool,
    pub category: String,
    pub rule: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "filtering_lists.html")]
pub(crate) struct ListsPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub lists: Vec<ListRow>,
}

#[derive(Debug, Clone)]
pub(crate) struct ListRow {
    pub name: String,
    pub category: String,
    pub domains: i64,
    pub urls: i64,
    pub loaded: String,
    pub loaded_by: String,
    pub illegal: bool,
}

#[derive(Template)]
#[template(path = "filtering_group.html")]
pub(crate) struct GroupPolicyPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub group: String,
    pub can_edit: bool,
    pub categories: Vec<CategoryRow>,
    pub allow: String,
    pub deny: String,
    pub time_rules: String,
    pub safe_search: bool,
    pub youtube_moderate: bool,
    pub walled_garden: bool,
    pub errors: Vec<String>,
    pub saved: bool,
    pub changes: Vec<ChangeRow>,
}

#[derive(Debug, Clone)]
pub(crate) struct CategoryRow {
    pub name: &'static str,
    pub label: &'static str,
    pub about: &'static str,
    pub blocked: bool,
    pub allowed: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct ChangeRow {
    pub when: String,
    pub who: String,
    pub what: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "logs.html")]
pub(crate) struct LogPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub person: String,
    pub group: String,
    pub verdict: String,
    pub category: String,
    pub name: String,
    pub from: String,
    pub to: String,
    pub categories: Vec<(&'static str, &'static str)>,
    pub rows: Vec<EventRow>,
    pub errors: Vec<String>,
    pub prev_link: Option<String>,
    pub next_link: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct EventRow {
    pub when: String,
    pub who: String,
    /// The person's timeline (`/logs?person=…`), when the event names a person.
    pub who_link: Option<String>,
    /// `DNS` or `Web proxy`.
    pub source: &'static str,
    /// The full address of a plain HTTP request.
    pub url: String,
    /// What was typed into a search engine.
    pub search: String,
    pub client: String,
    pub group: String,
    pub name: String,
    pub kind: String,
    pub verdict: String,
    pub blocked: bool,
    pub category: String,
    pub rule: String,
    /// How many identical answers the row stands for (asked again within a second).
    pub repeats: i64,
}

/// One of the requester's own requests, as the block page lists them.
#[derive(Debug, Clone)]
pub(crate) struct OwnRequest {
    pub target: String,
    pub outcome: String,
    pub note: String,
}

#[derive(Template)]
#[template(path = "blocked.html")]
pub(crate) struct BlockedPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    /// Still blocked (else: "not blocked now").
    pub blocked: bool,
    pub url: String,
    pub category: String,
    pub reason: String,
    pub when: String,
    pub who: String,
    pub can_request: bool,
    pub sent: bool,
    pub error: Option<String>,
    pub link_group: String,
    pub link_person: String,
    pub link_at: String,
    pub link_sig: String,
    pub requests: Vec<OwnRequest>,
    /// The person is held back by the agreement gate: the page says how to sign.
    pub unsigned: bool,
    pub sign_url: String,
}

/// A request in the filter manager's queue.
#[derive(Debug, Clone)]
pub(crate) struct RequestRow {
    pub id: i64,
    pub when: String,
    pub who: String,
    pub has_person: bool,
    pub group: String,
    pub client: String,
    pub target: String,
    pub why: String,
    pub outcome: String,
    pub decided_by: String,
}

#[derive(Template)]
#[template(path = "requests.html")]
pub(crate) struct RequestsPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub notice: Option<String>,
    pub errors: Vec<String>,
    pub pending: Vec<RequestRow>,
    pub answered: Vec<RequestRow>,
}

/// An alert as the DSL reads it: the text is cut around the match for highlighting.
#[derive(Debug, Clone)]
pub(crate) struct AlertRow {
    pub id: i64,
    pub when: String,
    pub first: String,
    pub who: String,
    pub has_person: bool,
    pub subject: String,
    pub group: String,
    pub source: String,
    pub category: String,
    pub severity: u8,
    pub count: i64,
    pub status: String,
    pub before: String,
    pub hit: String,
    pub after: String,
    pub reason: String,
    pub note: String,
    pub handled_by: String,
    pub about_staff: bool,
}

#[derive(Template)]
#[template(path = "alerts.html")]
pub(crate) struct AlertsPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub status: String,
    pub alerts: Vec<AlertRow>,
    pub notice: Option<String>,
    pub configure: bool,
}

#[derive(Template)]
#[template(path = "alert.html")]
pub(crate) struct AlertPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub a: AlertRow,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct LexiconRow {
    pub id: i64,
    pub line: String,
}

#[derive(Debug, Clone)]
pub(crate) struct TokenRow {
    pub id: i64,
    pub name: String,
    pub created: String,
    pub used: String,
    pub live: bool,
}

#[derive(Template)]
#[template(path = "monitor_settings.html")]
pub(crate) struct MonitorSettingsPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub errors: Vec<String>,
    /// (name, label, on)
    pub categories: Vec<(String, String, bool)>,
    pub lines: Vec<LexiconRow>,
    pub settings: String,
    pub tokens: Vec<TokenRow>,
    /// A token just made: shown once.
    pub new_token: Option<String>,
}

#[derive(Template)]
#[template(path = "worried.html")]
pub(crate) struct WorriedPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    /// Whether schoolgate knows who is signed in on this device (never shown: on a shared
    /// computer it could be someone else's name).
    pub known: bool,
    pub sent: bool,
    pub error: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone)]
pub(crate) struct IncidentRow {
    pub id: i64,
    pub when: String,
    pub category: String,
    pub status: String,
    pub open: bool,
}

#[derive(Template)]
#[template(path = "incidents.html")]
pub(crate) struct IncidentsPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub notice: Option<String>,
    /// Incidents the reader may open.
    pub incidents: Vec<IncidentRow>,
    /// The reader's own reports: status only.
    pub mine: Vec<IncidentRow>,
    /// Records the reader deals with that are past their review date, for a decision.
    pub review: Vec<IncidentRow>,
}

#[derive(Template)]
#[template(path = "incident_new.html")]
pub(crate) struct NewIncidentPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub errors: Vec<String>,
    /// (name, label)
    pub categories: Vec<(String, String)>,
    pub people: Vec<String>,
    pub form_what: String,
    pub form_device: String,
}

#[derive(Debug, Clone)]
pub(crate) struct EntryRow {
    pub id: i64,
    pub happened: String,
    /// When it was written, if much later than what it records.
    pub written: Option<String>,
    pub author: String,
    pub kind: String,
    pub action: Option<String>,
    pub body: String,
    pub corrects: Option<i64>,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "incident.html")]
pub(crate) struct IncidentPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub id: i64,
    pub category: String,
    pub four_c: String,
    pub urgent: bool,
    pub steps: Vec<String>,
    pub status: String,
    pub closed: bool,
    pub outcome: String,
    pub when: String,
    pub place: String,
    pub device: String,
    pub what: String,
    /// (name, involved, part, person id if on the register)
    pub people: Vec<(String, String, String, Option<i64>)>,
    pub entries: Vec<EntryRow>,
    /// (name, label)
    pub actions: Vec<(String, String)>,
    pub can_add: bool,
    pub can_close: bool,
    pub error: Option<String>,
    /// A data breach's ICO decision: due when, if not yet made; what was decided.
    pub ico_due: Option<String>,
    pub ico_overdue: bool,
    pub ico_decision: Option<String>,
    pub review: String,
    pub sealed: bool,
    /// The monitoring alert it was escalated from.
    pub alert: Option<i64>,
    /// The next follow-up date (`YYYY-MM-DD`), or empty.
    pub follow_up_on: String,
    /// The LADO's contact details, on records about staff or the headteacher.
    pub lado: String,
    pub past_review: bool,
    /// (id, name, type, KiB, when)
    pub attachments: Vec<(i64, String, String, i64, String)>,
    /// Who has opened it: (when, who), for the DSL and the headteacher.
    pub views: Option<Vec<(String, String)>>,
    pub sealed_to: Vec<i64>,
    /// Staff who could be named when sealing: (person id, name and role).
    pub sealable: Vec<(i64, String)>,
}

/// (label, count, bar width in percent of the largest)
pub(crate) type Bars = Vec<(String, usize, u32)>;

#[derive(Template)]
#[template(path = "incident_report.html")]
pub(crate) struct ReportPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub term: String,
    pub label: String,
    pub total: usize,
    pub closed: usize,
    pub median: Option<String>,
    /// (heading, bars): by category, key stage, month, actions.
    pub sections: Vec<(String, Bars)>,
}

#[derive(Template)]
#[template(path = "person_record.html")]
pub(crate) struct PersonRecordPage {
    pub title: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub id: i64,
    pub name: String,
    pub group: String,
    /// (when, link, what, status), newest first.
    pub items: Vec<(String, String, String, String)>,
    /// (reason, review date, set by)
    pub monitored: Option<(String, String, String)>,
    pub can_flag: bool,
}

/// One record in an exported pupil file.
#[derive(Debug, Clone)]
pub(crate) struct ExportRecord {
    pub id: i64,
    pub category: String,
    pub when: String,
    pub status: String,
    pub outcome: String,
    pub what: String,
    /// (when, who, kind or action, text)
    pub entries: Vec<(String, String, String, String)>,
}

/// A pupil's online safety file, for transfer to a new school: a standalone, print-ready
/// HTML document.
#[derive(Template)]
#[template(path = "export_record.html")]
pub(crate) struct ExportPage {
    pub school: String,
    pub name: String,
    pub born: String,
    pub upn: String,
    pub exported: String,
    pub by: String,
    pub records: Vec<ExportRecord>,
    /// (when, severity, category, status)
    pub alerts: Vec<(String, u8, String, String)>,
}
