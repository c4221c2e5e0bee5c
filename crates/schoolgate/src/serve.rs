//! `schoolgate serve`: one process runs every service of a school until Ctrl-C.

use std::fs::File;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use anyhow::Context;
use console::HealthBoard;
use register::people::SchoolId;
use store::Store;

use crate::config::{BlockModeConfig, FileConfig};
use crate::{ServeArgs, database, demo, now};

/// How long a setup link printed at start works.
const SETUP_LINK_HOURS: i64 = 24;

pub async fn run(mut config: FileConfig, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let shutdown = shutdown_signal();
    if let Some(a) = args.console {
        config.console.listen = a;
    }
    if let Some(a) = args.dns {
        config.dns.listen = a;
    }
    if let Some(a) = args.proxy {
        config.proxy.listen = a;
    }

    std::fs::create_dir_all(&config.data)
        .with_context(|| format!("cannot create the data directory {}", config.data.display()))?;
    let _lock = lock_data_dir(&config)?;
    let db = database(&config);
    let store = Store::open(&db).await?;

    let listener = tokio::net::TcpListener::bind(config.console.listen)
        .await
        .with_context(|| format!("cannot listen on {} for the console", config.console.listen))?;
    let console_addr = listener.local_addr()?;
    let mut console_config = config.console();
    if config.console.public_url.is_none() {
        console_config.public_url = format!("http://{console_addr}");
    }

    let (school, welcome) = prepare_school(&store, &config, &args, &console_config.public_url).await?;
    let school_name = store.school(school).await?.name;

    let health = HealthBoard::new();
    health.report("console", true, format!("listening on {console_addr}"));
    health.report("store", true, db.display());
    let seed: u64 = rand::random();
    let engine = Arc::new(start_engine(&store, school, seed, &health).await?);
    let filter_state = health
        .snapshot()
        .get("filter")
        .map(|c| c.detail.clone())
        .unwrap_or_default();
    let watcher = tokio::spawn(watch_filter(
        store.clone(),
        school,
        seed,
        engine.clone(),
        health.clone(),
        config.filter.reload_check,
    ));
    let filter = console::Filter {
        engine: engine.clone(),
        seed,
    };
    let (stop_gateways, gateways_stopped) = tokio::sync::watch::channel(false);
    let (queue, events_rx) = events::EventQueue::new(100_000);
    let (writer_runtime, writer) = start_event_writer(db.clone(), school, events_rx)?;
    tokio::spawn(watch_events(queue.clone(), health.clone()));
    let sink: Arc<dyn dns::EventSink> = Arc::new(DnsLog {
        queue: queue.clone(),
        engine: engine.clone(),
        runtime: writer_runtime,
        tables_waiting: Arc::default(),
    });
    // Shared by the DNS server and the proxy: a proxy sign-in names the person behind an
    // address for DNS too.
    let attribution = Arc::new(dns::Attribution::new(
        config.dns.subnets.iter().map(|s| (s.subnet, s.group.clone())).collect(),
        store::UNIDENTIFIED,
    ));
    tokio::spawn(watch_devices(
        store.clone(),
        school,
        attribution.clone(),
        config.school.year_start,
    ));
    // A DNS port that is taken (by another resolver, or mDNS on a desktop) must not stop the
    // console from starting: say so in the banner and on /healthz instead.
    let handler = dns_handler(&config, &args, console_addr, engine.clone(), attribution.clone());
    let dns_started = match &handler {
        Ok((h, upstreams)) => start_dns(&config, h.clone(), upstreams, &health, gateways_stopped.clone(), sink).await,
        Err(e) => Err(anyhow::anyhow!("{e:#}")),
    };
    let dns_line = match dns_started {
        Ok(line) => line,
        Err(e) => {
            let why = format!("not running: {e:#}");
            health.report("dns", false, why.clone());
            why
        }
    };
    let dns_for_digest = handler.as_ref().ok().map(|(h, _)| h.clone());
    let resolver: Option<Arc<dyn proxy::Resolve>> = handler
        .ok()
        .map(|(h, _)| Arc::new(crate::web_proxy::DnsLookups(h)) as Arc<dyn proxy::Resolve>);
    // Signs the proxy's links to the console's block page; one process holds both ends.
    let link_key: [u8; 32] = rand::random();
    let accounts = crate::web_proxy::StoreAccounts {
        store: store.clone(),
        school,
        limits: console_config.sign_in.clone(),
        attribution: attribution.clone(),
        sign_in_lasts: config.proxy.sign_in_lasts,
        year_start: config.school.year_start,
        recent: Default::default(),
        recent_key: rand::random(),
    };
    let block_page = proxy::BlockPage {
        console: console_config.public_url.clone(),
        key: link_key,
    };
    // Like DNS, a taken proxy port leaves the rest running and says so.
    let parts = crate::web_proxy::Parts {
        accounts,
        engine,
        queue: queue.clone(),
        resolver,
        block_page,
    };
    let proxy_line = match crate::web_proxy::start(&config, parts, &health, gateways_stopped).await {
        Ok((line, addr)) => {
            if console_config.pac.proxy.is_empty() {
                console_config.pac.proxy = pac_address(addr, &console_config.public_url);
            }
            line
        }
        Err(e) => {
            let why = format!("not running: {e:#}");
            health.report("proxy", false, why.clone());
            why
        }
    };

    let concerns = console::concerns::Concerns::new(
        store.clone(),
        school,
        school_name.clone(),
        console_config.public_url.clone(),
    )
    .await
    .context("cannot compile the monitoring lexicon")?;
    let mailer = match config.mail.clone().map(notify::Mailer::new).transpose() {
        Ok(m) => m,
        Err(e) => {
            // A mistake in [mail] must not stop filtering; alerts wait in the outbox.
            health.report("mail", false, format!("not set up: {e}"));
            None
        }
    };
    let monitor_tasks = [
        tokio::spawn(crate::monitoring::watch_events(
            concerns.clone(),
            store.clone(),
            school,
            health.clone(),
        )),
        tokio::spawn(crate::monitoring::run_outbox(
            store.clone(),
            school,
            mailer,
            health.clone(),
        )),
        tokio::spawn(escalate_incidents(
            store.clone(),
            school,
            console_config.public_url.clone(),
            config.incidents.escalate_after,
        )),
        tokio::spawn(crate::monitoring::run_digests(crate::monitoring::DigestWriter {
            store: store.clone(),
            school,
            school_name: school_name.clone(),
            console_url: console_config.public_url.clone(),
            config: config.digest.clone(),
            escalate_after: config.incidents.escalate_after.as_secs() as i64,
            health: Some(health.clone()),
            counters: Some(crate::monitoring::Counters {
                queue: queue.clone(),
                dns: dns_for_digest,
            }),
            year_start: config.school.year_start,
        })),
    ];
    // The first lines a newcomer reads.
    let mut out = std::io::stdout().lock();
    writeln!(out, "schoolgate {} — {school_name}", env!("CARGO_PKG_VERSION"))?;
    writeln!(
        out,
        "  Console:  {}/  (listening on {console_addr})",
        console_config.public_url
    )?;
    writeln!(out, "  DNS:      {dns_line}")?;
    writeln!(out, "  Proxy:    {proxy_line}")?;
    writeln!(out, "  Filter:   {filter_state}")?;
    writeln!(out, "  Data:     {} ({})", config.data.display(), db.display())?;
    writeln!(out)?;
    for line in welcome {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "Press Ctrl-C to stop.")?;
    out.flush()?;
    drop(out);

    let state = console::AppState::new(store.clone(), school, console_config, health, filter)
        .with_concerns(concerns)
        .with_block_pages(console::unblock::BlockPages {
            who: Arc::new(crate::web_proxy::AttributionWho(attribution)),
            key: link_key,
        });
    console::serve(listener, state, shutdown)
        .await
        .context("the console stopped")?;
    watcher.abort();
    for t in monitor_tasks {
        t.abort();
    }
    let _ = stop_gateways.send(true);
    // Let the writer drain what is queued before the database closes.
    drop(queue);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;

    tracing::info!("finishing: closing the database");
    store.close().await;
    println!("schoolgate stopped.");
    Ok(ExitCode::SUCCESS)
}

/// Keeps the DNS server's table of devices with fixed addresses in step with the asset
/// register: each device asks as its borrower's group (held back by the agreement gate like
/// the borrower), or as the group set on the device. Checked every minute, so a device added
/// or a pupil who has just signed is filtered rightly within a minute; each device's *last
/// seen* is taken from the filter log at the same time.
async fn watch_devices(
    store: Store,
    school: SchoolId,
    attribution: Arc<dns::Attribution>,
    year_start: register::agreements::YearStart,
) {
    let mut last = None;
    let mut seen_since = now() * 1000;
    loop {
        // A little overlap, so that events written just after the last look are not missed.
        let looked_at = now() * 1000;
        match store.mark_devices_seen(school, seen_since - 5_000).await {
            Ok(_) => seen_since = looked_at,
            Err(e) => tracing::warn!(error = %e, "devices' last-seen times could not be updated"),
        }
        match store
            .devices_with_address(school, console::uk_today(now()), year_start)
            .await
        {
            Ok(devices) if last.as_ref() != Some(&devices) => {
                tracing::info!(devices = devices.len(), "devices with fixed addresses loaded for DNS");
                attribution.set_devices(devices.clone());
                last = Some(devices);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the device register could not be read; DNS keeps the last one"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    }
}

/// The filter's first snapshot. If the lists cannot be read, pupils get only their allow
/// lists until they can (filtering fails closed, DESIGN.md); the failure is on /healthz.
async fn start_engine(
    store: &Store,
    school: SchoolId,
    seed: u64,
    health: &HealthBoard,
) -> anyhow::Result<policy::Engine> {
    store.ensure_default_policies(school, now()).await?;
    store
        .ensure_default_agreements(school, console::uk_today(now()), now())
        .await?;
    match store.build_snapshot(school, seed, false).await {
        Ok((snapshot, report)) => {
            health.report("filter", true, describe(&report));
            Ok(policy::Engine::new(snapshot))
        }
        Err(e) => {
            tracing::error!(error = %e, "filter lists could not be loaded: pupils get only their allow lists");
            health.report("filter", false, format!("failing closed: {e}"));
            let (snapshot, _) = store.build_snapshot(school, seed, true).await?;
            Ok(policy::Engine::new(snapshot))
        }
    }
}

fn describe(report: &store::SnapshotReport) -> String {
    let mut s = format!("{} lists, {} entries", report.lists, report.entries);
    if !report.skipped_lists.is_empty() {
        s.push_str(&format!(
            "; left out because they were changed outside schoolgate: {}",
            report.skipped_lists.join(", ")
        ));
    }
    s
}

/// Rebuilds the snapshot when lists or policies change in the store (a `lists import` from
/// the command line, or another node of a trust), checking every `filter.reload_check` (20 s by
/// default): changes reach
/// the filter within the minute DFE-FM-1.07 asks for. A build that fails leaves the last good
/// snapshot in place.
async fn watch_filter(
    store: Store,
    school: SchoolId,
    seed: u64,
    engine: Arc<policy::Engine>,
    health: HealthBoard,
    every: std::time::Duration,
) {
    let mut last = store.filter_generation(school).await.ok();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Ok(now_gen) = store.filter_generation(school).await else {
            continue;
        };
        if Some(&now_gen) == last.as_ref() {
            continue;
        }
        match store.build_snapshot(school, seed, false).await {
            Ok((snapshot, report)) => {
                engine.replace(snapshot);
                health.report("filter", true, describe(&report));
                tracing::info!(lists = report.lists, entries = report.entries, "filter reloaded");
                last = Some(now_gen);
            }
            Err(e) => {
                tracing::error!(error = %e, "filter reload failed; the previous lists stay in force");
                health.report("filter", false, format!("reload failed, previous lists in force: {e}"));
            }
        }
    }
}

/// Starts the filter log's writer on a thread of its own, at a lower priority than the
/// DNS threads, with its own database connection (and so, for SQLite, its own connection
/// thread, which takes the priority of the thread that opened it). The log's work comes a
/// second's worth at a time; on a two-core server it held pupils' DNS answers up (p99 at
/// 10,000 questions a second was 1.3–1.6 ms with the log and 0.1–0.4 ms without it). The
/// lower priority keeps the writer's share of a busy core small; what keeps it from holding
/// a waking DNS thread up is that it gives way every few hundred events
/// ([`events::give_way`]). Returns the writer's runtime (for work that should run there)
/// and what tells when the writer has finished.
fn start_event_writer(
    db: store::Database,
    school: register::people::SchoolId,
    rx: tokio::sync::mpsc::Receiver<events::FilterEvent>,
) -> anyhow::Result<(tokio::runtime::Handle, tokio::sync::oneshot::Receiver<()>)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("no runtime for the filter log's writer")?;
    let handle = runtime.handle().clone();
    let (finished, done) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("event-writer".into())
        .spawn(move || {
            // Nice 10 (and so its SQLite thread): a tenth of a DNS thread's share of a core.
            if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10) {
                tracing::debug!(error = %e, "the filter log's writer keeps normal priority");
            }
            runtime.block_on(async move {
                match Store::open_more(&db, 1).await {
                    Ok(store) => {
                        store.run_event_writer(school, rx).await;
                        store.close().await;
                    }
                    Err(e) => tracing::error!(error = %e, "the filter log's writer could not open the database"),
                }
            });
            let _ = finished.send(());
        })
        .context("no thread for the filter log's writer")?;
    Ok((handle, done))
}

/// Turns each DNS answer into a filter event for the log.
#[derive(Clone)]
struct DnsLog {
    queue: events::EventQueue,
    engine: Arc<policy::Engine>,
    /// The log writer's runtime: a DNS loop's folded answers become events there, at the
    /// writer's low priority, off the loop's thread.
    runtime: tokio::runtime::Handle,
    /// Folded tables handed to `runtime` and not yet turned into events.
    tables_waiting: Arc<std::sync::atomic::AtomicUsize>,
}

impl dns::EventSink for DnsLog {
    fn record(&self, o: dns::Outcome, client: std::net::IpAddr, answered: dns::Answered) {
        let (verdict, category, rule) = match &o.decision {
            Some(d) => (
                d.verdict.name(),
                d.category.map(|c| c.name()),
                self.engine.snapshot().rule_name(d),
            ),
            None if o.name == dns::handler::DOH_CANARY => (
                "block",
                None,
                "DoH canary: browsers told to keep to school DNS".to_owned(),
            ),
            None => ("block", None, "no policy for this group: failing closed".to_owned()),
        };
        let at_ms = answered
            .at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.queue.push(events::FilterEvent {
            at_ms,
            source: "dns",
            client,
            device: o.who.device,
            person: o.who.person,
            group: o.who.group,
            name: o.name,
            kind: o.qtype.to_string(),
            verdict,
            category,
            rule,
            status: format!("{:?}", o.rcode),
            latency_us: u32::try_from(answered.latency.as_micros()).unwrap_or(u32::MAX),
            repeats: answered.repeats,
            ..Default::default()
        });
    }

    fn record_folded(&self, folded: dns::Folded) {
        // A writer starved of CPU by a flood would otherwise let tables pile up without
        // bound; past a few, they are counted as dropped, as a full queue's events are.
        const MOST_WAITING: usize = 8;
        if self.tables_waiting.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= MOST_WAITING {
            self.tables_waiting.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            self.queue.lost(folded.len() as u64);
            return;
        }
        let me = self.clone();
        self.runtime.spawn(async move {
            for (i, (o, client, a)) in folded.into_iter().enumerate() {
                me.record(o, client, a);
                events::give_way(i + 1);
            }
            me.tables_waiting.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        });
    }
}

/// Sends on incidents nobody on their route has opened in time.
async fn escalate_incidents(
    store: Store,
    school: register::people::SchoolId,
    public_url: String,
    after: std::time::Duration,
) {
    let every = (after / 4).clamp(std::time::Duration::from_secs(2), std::time::Duration::from_secs(30));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match console::incidents::escalate_unopened(&store, &public_url, school, after.as_secs() as i64).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                incidents = n,
                "unopened incidents sent on to the next person on their route"
            ),
            Err(e) => tracing::warn!(error = %e, "incident escalation failed; will try again"),
        }
    }
}

/// Keeps `/healthz` told whether filter events are being lost.
async fn watch_events(queue: events::EventQueue, health: HealthBoard) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tick.tick().await;
        let (pushed, dropped) = (queue.pushed(), queue.dropped());
        let detail =
            format!("{pushed} filter events logged since start, {dropped} dropped because the writer fell behind");
        health.report("events", dropped == 0, detail);
    }
}

/// The machine's own resolvers, from `/etc/resolv.conf`, leaving out our own address so that
/// schoolgate never forwards to itself.
fn system_resolvers(ours: std::net::SocketAddr) -> Vec<dns::UpstreamAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| std::net::SocketAddr::new(ip, 53))
        .filter(|a| *a != ours)
        .map(dns::UpstreamAddr::plain)
        .collect()
}

/// The DNS server's question handler: policy, cache and upstreams. The proxy looks names up
/// through it too, so it exists even when the DNS port cannot be opened.
fn dns_handler(
    config: &FileConfig,
    args: &ServeArgs,
    console_addr: std::net::SocketAddr,
    engine: Arc<policy::Engine>,
    attribution: Arc<dns::Attribution>,
) -> anyhow::Result<(Arc<dns::Handler>, Vec<dns::UpstreamAddr>)> {
    let c = &config.dns;
    let upstreams = if !args.upstreams.is_empty() {
        args.upstreams.clone()
    } else if !c.upstreams.is_empty() {
        c.upstreams.clone()
    } else {
        system_resolvers(c.listen)
    };
    let extra_roots = match &c.upstream_ca {
        None => Vec::new(),
        Some(path) => {
            use rustls_pki_types::pem::PemObject;
            rustls_pki_types::CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("dns.upstream_ca: cannot read CA certificates from {}", path.display()))?
        }
    };
    let block = match c.block_mode {
        BlockModeConfig::Nxdomain => dns::BlockMode::NxDomain,
        BlockModeConfig::BlockPage => {
            let v4 = c.block_page_ipv4.unwrap_or(match console_addr.ip() {
                std::net::IpAddr::V4(v4) if !v4.is_unspecified() => v4,
                _ => std::net::Ipv4Addr::LOCALHOST,
            });
            dns::BlockMode::BlockPage {
                v4,
                v6: c.block_page_ipv6,
            }
        }
    };
    let handler = Arc::new(dns::Handler {
        engine,
        attribution,
        upstreams: dns::Upstreams::with_roots(&upstreams, c.upstream_timeout, extra_roots),
        cache: dns::cache::AnswerCache::new(c.cache_entries, std::time::Duration::from_secs(86_400)),
        block,
        fallback_group: store::UNIDENTIFIED.into(),
    });
    Ok((handler, upstreams))
}

/// Starts the DNS server; returns the banner line.
async fn start_dns(
    config: &FileConfig,
    handler: Arc<dns::Handler>,
    upstreams: &[dns::UpstreamAddr],
    health: &HealthBoard,
    stop: tokio::sync::watch::Receiver<bool>,
    sink: Arc<dyn dns::EventSink>,
) -> anyhow::Result<String> {
    let c = &config.dns;
    let limits = dns::Limits {
        max_tcp_connections: c.max_tcp_connections,
        tcp_idle: std::time::Duration::from_secs(10),
        per_client_qps: c.per_client_qps,
    };
    let (udp, tcp) = dns::bind(c.listen).await.with_context(|| {
        format!(
            "cannot listen on {} for DNS (port 53 needs privileges: see the README)",
            c.listen
        )
    })?;
    let addr = udp.local_addr()?;
    let server = dns::DnsServer::new(handler.clone(), limits, Some(sink));
    let counters = server.counters.clone();
    tokio::spawn(server.clone().serve_udp(udp, stop.clone()));
    tokio::spawn(server.serve_tcp(tcp, stop));
    let forwarding = if upstreams.is_empty() {
        "no upstream resolver: allowed names get SERVFAIL (set dns.upstreams)".to_owned()
    } else {
        format!(
            "forwarding to {}",
            upstreams.iter().map(|u| u.to_string()).collect::<Vec<_>>().join(", ")
        )
    };
    health.report(
        "dns",
        !upstreams.is_empty(),
        format!("listening on {addr} (UDP and TCP), {forwarding}"),
    );
    let h = health.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
        loop {
            tick.tick().await;
            handler.upstreams.probe().await;
            let states = handler.upstreams.health();
            let up = states.iter().filter(|s| s.1).count();
            h.report(
                "dns_upstreams",
                up > 0,
                format!(
                    "{up} of {} upstream resolvers answer; {} questions so far, {} unanswered upstream, {} dropped by the \
                     per-client limit, {} dropped while busy, {} TCP connections refused",
                    states.len(),
                    counters.queries.load(Relaxed),
                    handler.upstreams.failures.load(Relaxed),
                    counters.rate_limited.load(Relaxed),
                    counters.busy.load(Relaxed),
                    counters.tcp_refused.load(Relaxed),
                ),
            );
        }
    });
    Ok(format!("listening on {addr} (UDP and TCP), {forwarding}"))
}

/// The proxy's address for `/proxy.pac`: where it listens, or, when it listens on every
/// address, the console's public host with the proxy's port.
fn pac_address(proxy: std::net::SocketAddr, public_url: &str) -> String {
    if !proxy.ip().is_unspecified() {
        return proxy.to_string();
    }
    let authority = public_url
        .split("://")
        .nth(1)
        .unwrap_or(public_url)
        .split('/')
        .next()
        .unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((h, _)) if !authority.ends_with(']') => h,
        _ => authority,
    };
    format!("{host}:{}", proxy.port())
}

/// Holds an exclusive lock on `schoolgate.lock` in the data directory for as long as the
/// returned file lives, so that two servers never share one data directory.
fn lock_data_dir(config: &FileConfig) -> anyhow::Result<File> {
    let path = config.data.join("schoolgate.lock");
    let mut file = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)?;
            writeln!(file, "{}", std::process::id())?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            anyhow::bail!(
                "another schoolgate is already running on the data directory {} (process {}). \
                 Stop it first, or give this one its own --data directory.",
                config.data.display(),
                pid.trim()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

/// Finds or creates the school, seeding the demo or issuing a setup link as needed.
/// Returns the school and what to tell the person who started the server.
async fn prepare_school(
    store: &Store,
    config: &FileConfig,
    args: &ServeArgs,
    public_url: &str,
) -> anyhow::Result<(SchoolId, Vec<String>)> {
    let schools = store.schools().await?;
    let mut welcome = Vec::new();
    let school = match schools.first() {
        None if args.demo => {
            let (school, accounts) = demo::seed(store, now()).await?;
            welcome.push(
                "Demo Primary School was created with fictional pupils and staff. Sign in as any of these".to_owned(),
            );
            welcome.push("(passwords are shown only this once and stored only as hashes):".to_owned());
            welcome.push(String::new());
            let w = accounts.iter().map(|a| a.role.len()).max().unwrap_or(0);
            for a in &accounts {
                welcome.push(format!(
                    "  {:<w$}  {:<20}  {:<14}  {}",
                    a.role, a.name, a.username, a.password
                ));
            }
            welcome.push(String::new());
            welcome.push("The headteacher, safeguarding leads, governors and technician set up security codes (TOTP) at first sign-in.".to_owned());
            return Ok((school, welcome));
        }
        None => store.create_school(&config.school.name, now()).await?,
        Some(s) => {
            if args.demo {
                welcome.push(format!(
                    "The data directory already holds {}; its demo passwords were printed when it was created. \
                     Reset one with `schoolgate accounts reset-password USERNAME --data {}`.",
                    s.name,
                    config.data.display()
                ));
            }
            s.id
        }
    };
    if store.account_count(school).await? == 0 {
        let token = console::random_token();
        let t = now();
        store
            .create_setup_token(school, &console::token_hash(&token), t, t + SETUP_LINK_HOURS * 3600)
            .await?;
        welcome.push("This school has no administrator yet. Open this link to create the first one".to_owned());
        welcome.push(format!("(it works once, for {SETUP_LINK_HOURS} hours):"));
        welcome.push(format!("  {public_url}/setup/{token}"));
    }
    Ok((school, welcome))
}

/// Completes on Ctrl-C or SIGTERM (how systemd stops a service).
/// Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the future
/// is first polled: a stop that arrives while the server is still starting is then a clean
/// stop too, not the default action of the signal.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (int, term) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(int) => {},
                _ = wait(term) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("stopping: finishing requests in flight");
    }
}
