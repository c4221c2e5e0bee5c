//! `schoolgate`: the one binary. It reads the configuration, opens the store and runs the
//! school's services (`serve`), or does one job and exits (`people import`,
//! `audit verify`, `accounts reset-password`).

mod config;
mod demo;
mod filtering;
mod monitoring;
mod serve;
mod web_proxy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::FileConfig;
use store::{Actor, Database, Store};

// mimalloc rather than the system allocator: the DNS threads allocate each answer's log
// event and the writer thread frees it, and glibc's free then takes the DNS thread's arena
// lock; mimalloc hands such frees back without a lock, and is quicker at the small
// allocations an answer makes.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "schoolgate",
    version,
    about = "Filter, monitor, record and review a school's online safety."
)]
struct Cli {
    /// Configuration file (TOML). Every key has a default, so none is needed.
    #[arg(long, global = true, env = "SCHOOLGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory [default: ./schoolgate-data]
    #[arg(long, global = true, env = "SCHOOLGATE_DATA")]
    data: Option<PathBuf>,
    /// `sqlite` (in the data directory) or a postgres:// URL [default: sqlite]
    #[arg(long, global = true, env = "SCHOOLGATE_DATABASE")]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every service of the school until Ctrl-C.
    Serve(ServeArgs),
    /// People and groups.
    #[command(subcommand)]
    People(PeopleCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Sign-in accounts.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Category lists for the filter.
    #[command(subcommand)]
    Lists(ListsCommand),
    /// Each group's filtering policy.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Show what the filter decides for a site, and why.
    Explain(ExplainArgs),
    /// The daily online safety digest.
    #[command(subcommand)]
    Digest(DigestCommand),
    /// Photo and video consent (see docs/registers.md).
    #[command(subcommand)]
    Consent(RegisterImport),
    /// The hardware register (see docs/registers.md).
    #[command(subcommand)]
    Assets(RegisterImport),
}

#[derive(Debug, Subcommand)]
enum RegisterImport {
    /// Import a CSV file whole: every row, or, if any row is wrong, nothing and every bad
    /// line listed.
    Import {
        file: PathBuf,
        /// The account doing the import, for the audit log [default: the system user]
        #[arg(long = "as", value_name = "USERNAME")]
        actor: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum DigestCommand {
    /// Write the digest for the last 24 hours and send it now, to the usual recipients.
    Send {
        /// Send now rather than at the configured time (the only way this command sends).
        #[arg(long)]
        now: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ListsCommand {
    /// Import lists: a UT1-style folder (CATEGORY/domains, CATEGORY/urls), a folder of such
    /// sources, or one file (domains, hosts or adblock format). Re-importing replaces a list.
    Import {
        path: PathBuf,
        /// The schoolgate category (or a source category name from the table) for the lists.
        #[arg(long)]
        category: Option<String>,
        /// Format of a single file [default: guessed from its contents]
        #[arg(long, value_parser = ["ut1", "domains", "hosts", "adblock", "urls"])]
        format: Option<String>,
        /// The source's name, for list names (`SOURCE/CATEGORY`) [default: the parent folder]
        #[arg(long)]
        source: Option<String>,
        /// The list's name [default: SOURCE/CATEGORY]
        #[arg(long)]
        name: Option<String>,
        /// An illegal-content list (IWF, CTIRU) from the school's provider: blocks for
        /// everyone and can never be removed or overridden.
        #[arg(long)]
        illegal: bool,
        /// The filter manager making the change.
        #[arg(long = "as", value_name = "USERNAME")]
        actor: Option<String>,
    },
    /// The lists, with their source, category, size and when they were loaded.
    Show,
    /// Remove an ordinary list (illegal-content lists cannot be removed).
    Remove {
        name: String,
        #[arg(long = "as", value_name = "USERNAME")]
        actor: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Print the policies (or one group's) as TOML.
    Show { group: Option<String> },
    /// Replace a group's policy with the TOML in FILE.
    Set {
        group: String,
        file: PathBuf,
        #[arg(long = "as", value_name = "USERNAME")]
        actor: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
struct ExplainArgs {
    /// The group whose policy applies [default: unidentified]
    #[arg(long, conflicts_with = "user")]
    group: Option<String>,
    /// The person (by username) whose group's policy applies.
    #[arg(long)]
    user: Option<String>,
    /// When: `2026-11-24 10:30` (school time) or RFC 3339 [default: now]
    #[arg(long)]
    at: Option<String>,
    /// One JSON object a line: target, verdict, category, rule, reason.
    #[arg(long)]
    json: bool,
    /// Read targets from a file, one a line.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Domains or URLs.
    targets: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// On an empty data directory, create the fictional Demo Primary School with accounts.
    #[arg(long)]
    pub demo: bool,
    /// Console address [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub console: Option<std::net::SocketAddr>,
    /// DNS address [default: 127.0.0.1:5300]
    #[arg(long, value_name = "ADDR")]
    pub dns: Option<std::net::SocketAddr>,
    /// Proxy address [default: 127.0.0.1:3128]
    #[arg(long, value_name = "ADDR")]
    pub proxy: Option<std::net::SocketAddr>,
    /// An upstream resolver for allowed names: 9.9.9.9, [2620:fe::fe]:53, or DNS-over-TLS
    /// tls://9.9.9.9#dns.quad9.net (repeat for several, tried in order)
    /// [default: dns.upstreams, or /etc/resolv.conf]
    #[arg(long = "upstream", value_name = "ADDR", value_parser = config::parse_upstream)]
    pub upstreams: Vec<dns::UpstreamAddr>,
}

#[derive(Debug, Subcommand)]
enum PeopleCommand {
    /// Import pupils and staff from an MIS CSV export (see docs/people-import.md).
    Import {
        file: PathBuf,
        /// The account doing the import, for the audit log [default: the system user]
        #[arg(long = "as", value_name = "USERNAME")]
        actor: Option<String>,
        /// Go ahead even if the file would mark more than a quarter of a kind as leavers.
        #[arg(long)]
        allow_many_leavers: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check every school's audit chain; exits 2 naming the first broken entry.
    Verify,
}

#[derive(Debug, Subcommand)]
enum AccountsCommand {
    /// Give an account a new one-time password, to be changed at its next sign-in.
    ResetPassword { username: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SCHOOLGATE_LOG").unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut config = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            FileConfig::from_toml(&path.display().to_string(), &text)?
        }
        None => FileConfig::default(),
    };
    if let Some(d) = cli.data {
        config.data = d;
    }
    if let Some(db) = cli.database {
        config.database = db;
    }
    match cli.command {
        Command::Serve(args) => serve::run(config, args).await,
        Command::People(PeopleCommand::Import {
            file,
            actor,
            allow_many_leavers,
        }) => import_people(&config, &file, actor, allow_many_leavers).await,
        Command::Audit(AuditCommand::Verify) => verify_audit(&config).await,
        Command::Consent(RegisterImport::Import { file, actor }) => {
            import_register(&config, &file, actor, Register::Consent).await
        }
        Command::Assets(RegisterImport::Import { file, actor }) => {
            import_register(&config, &file, actor, Register::Hardware).await
        }
        Command::Accounts(AccountsCommand::ResetPassword { username }) => reset_password(&config, &username).await,
        Command::Lists(ListsCommand::Import {
            path,
            category,
            format,
            source,
            name,
            illegal,
            actor,
        }) => {
            let format = format.map(|f| f.parse()).transpose().map_err(anyhow::Error::msg)?;
            let opts = filtering::ImportOptions {
                category,
                format,
                source,
                name,
                illegal,
                actor,
            };
            filtering::import(&config, &path, opts).await
        }
        Command::Lists(ListsCommand::Show) => filtering::show_lists(&config).await,
        Command::Lists(ListsCommand::Remove { name, actor }) => {
            filtering::remove_list(&config, &name, actor.as_deref()).await
        }
        Command::Policy(PolicyCommand::Show { group }) => filtering::show_policy(&config, group.as_deref()).await,
        Command::Policy(PolicyCommand::Set { group, file, actor }) => {
            filtering::set_policy(&config, &group, &file, actor.as_deref()).await
        }
        Command::Digest(DigestCommand::Send { now: send_now }) => send_digest(&config, send_now).await,
        Command::Explain(a) => {
            let opts = filtering::ExplainOptions {
                group: a.group,
                user: a.user,
                at: a.at,
                json: a.json,
                file: a.file,
                targets: a.targets,
            };
            filtering::explain(&config, opts).await
        }
    }
}

/// `schoolgate digest send --now`: writes the digest into the outbox and sends what the
/// outbox holds. A send that fails stays there for a running server to retry.
async fn send_digest(config: &FileConfig, send_now: bool) -> anyhow::Result<ExitCode> {
    if !send_now {
        anyhow::bail!("say --now to send the digest now (a running server sends it at [digest] time by itself)");
    }
    let store = open_existing(config).await?;
    let school = only_school(&store).await?;
    let console = config.console();
    let writer = monitoring::DigestWriter {
        store: store.clone(),
        school,
        school_name: store.school(school).await?.name,
        console_url: console.public_url,
        config: config.digest.clone(),
        escalate_after: config.incidents.escalate_after.as_secs() as i64,
        health: None,
        counters: None,
        year_start: config.school.year_start,
    };
    let ids = writer.queue(&monitoring::on_demand(now()), true).await?;
    let mailer = match &config.mail {
        Some(m) => Some(notify::Mailer::new(m.clone())?),
        None => None,
    };
    monitoring::send_due(&store, mailer.as_ref()).await;
    let mut all_sent = true;
    for id in &ids {
        let Some(m) = store.mail(*id).await? else { continue };
        match (m.sent_at, m.last_error) {
            (Some(_), _) => println!("Sent the digest to {}.", m.recipients.join(", ")),
            (None, why) => {
                all_sent = false;
                println!(
                    "The digest for {} was not sent: {}. It waits in the outbox; a running server retries it.",
                    if m.recipients.is_empty() {
                        "nobody".to_owned()
                    } else {
                        m.recipients.join(", ")
                    },
                    why.unwrap_or_else(|| "not tried yet".into())
                );
            }
        }
    }
    store.close().await;
    Ok(if all_sent { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Where the records are, as configured.
pub fn database(config: &FileConfig) -> Database {
    if config.database == "sqlite" {
        Database::Sqlite(config.data.join("schoolgate.db"))
    } else {
        Database::parse(&config.database)
    }
}

/// Opens the store for a one-off command, refusing to create a new SQLite database.
async fn open_existing(config: &FileConfig) -> anyhow::Result<Store> {
    let db = database(config);
    if let Database::Sqlite(path) = &db
        && !path.exists()
    {
        anyhow::bail!(
            "there is no schoolgate database in {} (run `schoolgate serve --data {}` first, or pass the right --data)",
            config.data.display(),
            config.data.display()
        );
    }
    Ok(Store::open(&db).await?)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn cli_actor(name: Option<String>) -> Actor {
    let user = name
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    Actor {
        label: format!("cli:{user}"),
        origin: "cli".into(),
    }
}

async fn only_school(store: &Store) -> anyhow::Result<register::people::SchoolId> {
    match store.schools().await?.as_slice() {
        [one] => Ok(one.id),
        [] => anyhow::bail!("the database has no school yet: run `schoolgate serve` once first"),
        many => anyhow::bail!(
            "the database holds {} schools; this command works on a single-school deployment for now",
            many.len()
        ),
    }
}

async fn import_people(
    config: &FileConfig,
    file: &Path,
    actor: Option<String>,
    allow_many_leavers: bool,
) -> anyhow::Result<ExitCode> {
    let store = open_existing(config).await?;
    let school = only_school(&store).await?;
    let origin = file.display().to_string();
    let input = std::fs::File::open(file).with_context(|| format!("cannot open {origin}"))?;
    let batch = match register::import::parse(&origin, std::io::BufReader::new(input)) {
        Ok(b) => b,
        Err(rejected) => {
            eprint!("{rejected}");
            store.close().await;
            return Ok(ExitCode::FAILURE);
        }
    };
    let summary = match store
        .import_people(school, &origin, &batch, &cli_actor(actor), now(), allow_many_leavers)
        .await
    {
        Ok(s) => s,
        Err(store::StoreError::Conflict(why)) => {
            eprintln!("{why} (--allow-many-leavers).");
            store.close().await;
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    println!(
        "Imported {origin}: {} added, {} updated, {} unchanged, {} marked as leavers.",
        summary.added, summary.updated, summary.unchanged, summary.leavers
    );
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Which register a CSV file is for.
#[derive(Debug, Clone, Copy)]
enum Register {
    Consent,
    Hardware,
}

/// `consent import` and `assets import`: the console's imports, from the command line, for a
/// technician who keeps the files on the server.
async fn import_register(
    config: &FileConfig,
    file: &Path,
    actor: Option<String>,
    register: Register,
) -> anyhow::Result<ExitCode> {
    let origin = file.display().to_string();
    let text = std::fs::read(file).with_context(|| format!("cannot open {origin}"))?;
    let store = open_existing(config).await?;
    let school = only_school(&store).await?;
    let actor = cli_actor(actor);
    let refused = |errors: Vec<register::import::RowError>| {
        eprintln!(
            "{origin} was not imported: {} problem(s), nothing was changed",
            errors.len()
        );
        for e in errors {
            eprintln!("  {origin}: {e}");
        }
    };
    let done = match register {
        Register::Consent => match register::consent::parse_consents(&origin, text.as_slice()) {
            Err(rejected) => Err(rejected.errors),
            Ok(answers) => store
                .import_consents(school, &origin, &answers, &actor, now())
                .await?
                .map(|n| format!("Imported {origin}: {n} consent answers.")),
        },
        Register::Hardware => match register::assets::parse_hardware(&origin, text.as_slice()) {
            Err(rejected) => Err(rejected.errors),
            Ok(rows) => store
                .import_hardware(school, &origin, &rows, &actor, now())
                .await?
                .map(|(added, updated)| format!("Imported {origin}: {added} devices added, {updated} updated.")),
        },
    };
    store.close().await;
    match done {
        Ok(line) => {
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            refused(errors);
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn verify_audit(config: &FileConfig) -> anyhow::Result<ExitCode> {
    let store = open_existing(config).await?;
    let mut code = ExitCode::SUCCESS;
    for school in store.schools().await? {
        match store.verify_audit(school.id).await? {
            Ok(n) => {
                let head = store
                    .recent_audit(school.id, 1)
                    .await?
                    .first()
                    .map(|e| e.hash.clone())
                    .unwrap_or_default();
                println!("{}: {n} audit entries, chain intact, head {head}", school.name)
            }
            Err(broken) => {
                println!("{}: {broken}", school.name);
                code = ExitCode::from(2);
            }
        }
    }
    store.close().await;
    Ok(code)
}

async fn reset_password(config: &FileConfig, username: &str) -> anyhow::Result<ExitCode> {
    let store = open_existing(config).await?;
    let Some(account) = store.account_by_username(username).await? else {
        anyhow::bail!("there is no account {username:?}");
    };
    let password = register::password::generate();
    let to_hash = password.clone();
    let hash = tokio::task::spawn_blocking(move || register::password::hash(&to_hash)).await?;
    store
        .set_password(&account, &hash, true, &cli_actor(None), now())
        .await?;
    println!(
        "New one-time password for {} ({}): {password}",
        account.username,
        account.full_name()
    );
    println!("They will be asked to choose their own at their next sign-in.");
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
