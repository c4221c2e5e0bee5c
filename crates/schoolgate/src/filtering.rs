//! The filtering commands: `lists import|show|remove`, `policy show|set` and `explain`.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use policy::list::parse_list;
use policy::mapping::Target;
use policy::{Category, CategoryMap, GroupPolicy, ListFormat, LocalTime, ParsedList, Request, Snapshot};
use register::people::SchoolId;
use register::roles::Permission;
use store::{Actor, NewList, Store, UNIDENTIFIED};

use crate::config::FileConfig;
use crate::{now, only_school, open_existing};

/// How `lists import` was asked to read.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub category: Option<String>,
    pub format: Option<ListFormat>,
    pub source: Option<String>,
    pub name: Option<String>,
    pub illegal: bool,
    pub actor: Option<String>,
}

/// The account a change is made as: it must exist, be active and be a filter manager
/// (UKSIC-F-SF-03: no unilateral, unrecorded changes).
pub async fn filter_manager(store: &Store, username: Option<&str>) -> anyhow::Result<Actor> {
    let Some(username) = username else {
        bail!("say who is making this change with --as USERNAME (an account with the filter-manager permission)");
    };
    let Some(account) = store.account_by_username(username).await? else {
        bail!("there is no account {username:?}")
    };
    if let Some(why) = account.refusal(now()) {
        bail!("{username} cannot make changes: {why}");
    }
    if !account.authority().can(Permission::FilterManager) {
        bail!("{username} does not have the filter-manager permission, which changing lists and policies needs");
    }
    Ok(Actor {
        label: format!("cli:{} (account:{})", account.username, account.id.0),
        origin: "cli".into(),
    })
}

/// One list to import: its name, source, category and files.
#[derive(Debug)]
struct Found {
    source: String,
    folder: String,
    files: Vec<(PathBuf, Option<ListFormat>)>,
}

fn is_category_folder(p: &Path) -> bool {
    p.join("domains").is_file() || p.join("urls").is_file()
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn sorted_dirs(p: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)
        .with_context(|| format!("cannot read {}", p.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    Ok(v)
}

fn category_files(dir: &Path) -> Vec<(PathBuf, Option<ListFormat>)> {
    [("domains", ListFormat::Domains), ("urls", ListFormat::Urls)]
        .into_iter()
        .map(|(f, fmt)| (dir.join(f), Some(fmt)))
        .filter(|(p, _)| p.is_file())
        .collect()
}

/// Finds the lists under `path`: a list file, a UT1-style category folder, a source (a
/// folder of category folders) or a folder of sources.
fn discover(path: &Path, opts: &ImportOptions) -> anyhow::Result<Vec<Found>> {
    if path.is_file() {
        let folder = path.parent().map(name_of).unwrap_or_default();
        let source = path
            .parent()
            .and_then(Path::parent)
            .map(name_of)
            .unwrap_or_else(|| "local".into());
        return Ok(vec![Found {
            source,
            folder,
            files: vec![(path.to_owned(), opts.format)],
        }]);
    }
    if !path.is_dir() {
        bail!("{} is neither a list file nor a folder of lists", path.display());
    }
    if is_category_folder(path) {
        let source = path.parent().map(name_of).unwrap_or_else(|| "local".into());
        return Ok(vec![Found {
            source,
            folder: name_of(path),
            files: category_files(path),
        }]);
    }
    let mut found = Vec::new();
    for child in sorted_dirs(path)? {
        if is_category_folder(&child) {
            found.push(Found {
                source: name_of(path),
                folder: name_of(&child),
                files: category_files(&child),
            });
        } else {
            for grandchild in sorted_dirs(&child)?.into_iter().filter(|g| is_category_folder(g)) {
                found.push(Found {
                    source: name_of(&child),
                    folder: name_of(&grandchild),
                    files: category_files(&grandchild),
                });
            }
        }
    }
    if found.is_empty() {
        bail!(
            "no lists found in {} (expected CATEGORY/domains or CATEGORY/urls files, or a list file)",
            path.display()
        );
    }
    Ok(found)
}

fn category_map(config: &FileConfig) -> anyhow::Result<CategoryMap> {
    let path = config.data.join("categories.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(CategoryMap::with_overrides(&path.display().to_string(), &text)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CategoryMap::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

pub async fn import(config: &FileConfig, path: &Path, opts: ImportOptions) -> anyhow::Result<ExitCode> {
    let store = open_existing(config).await?;
    let school = only_school(&store).await?;
    let actor = filter_manager(&store, opts.actor.as_deref()).await?;
    let map = category_map(config)?;
    let found = discover(path, &opts)?;
    if found.len() > 1 && opts.name.is_some() {
        bail!("--name names one list, but {} holds {}", path.display(), found.len());
    }
    let mut failures = 0;
    let total = found.len();
    let mut out = std::io::stdout().lock();
    for (i, f) in found.into_iter().enumerate() {
        let source = opts.source.clone().unwrap_or(f.source);
        let name = opts.name.clone().unwrap_or_else(|| format!("{source}/{}", f.folder));
        let category = if opts.illegal {
            Category::IllegalContent
        } else {
            let wanted = opts.category.as_deref().unwrap_or(&f.folder);
            match wanted
                .parse::<Category>()
                .ok()
                .map(Target::Category)
                .or_else(|| map.resolve(&source, wanted))
            {
                Some(Target::Category(c)) if c != Category::IllegalContent => c,
                Some(Target::Category(_)) => bail!("illegal-content lists are imported with --illegal"),
                Some(Target::Ignore) => {
                    writeln!(out, "[{}/{total}] {name}: ignored (the category table says so)", i + 1)?;
                    continue;
                }
                None => {
                    eprintln!(
                        "{name}: no schoolgate category for {wanted:?}; pass --category or add it to categories.toml (docs/categories.md)"
                    );
                    failures += 1;
                    continue;
                }
            }
        };
        let mut parsed = ParsedList::default();
        for (file, format) in &f.files {
            let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let format = match format {
                Some(f) => *f,
                None => ListFormat::sniff(&String::from_utf8_lossy(&bytes[..bytes.len().min(4096)])),
            };
            let one = parse_list(&file.display().to_string(), format, bytes.as_slice());
            parsed.domains.extend(one.domains);
            parsed.urls.extend(one.urls);
            parsed.skipped += one.skipped;
            parsed.errors.extend(one.errors);
        }
        for e in parsed.errors.iter().take(5) {
            eprintln!("  {e}");
        }
        if parsed.errors.len() > 5 {
            eprintln!(
                "  … and {} more lines that are not domains or URLs",
                parsed.errors.len() - 5
            );
        }
        let content = parsed.to_normalised();
        let list = NewList {
            name: name.clone(),
            source: source.clone(),
            category: category.name().into(),
            illegal: opts.illegal,
            domains: parsed.domains.len() as i64,
            urls: parsed.urls.len() as i64,
            skipped: parsed.skipped as i64,
            rejected: parsed.errors.len() as i64,
            content,
        };
        match store.replace_list(school, &list, &actor, now()).await {
            Ok(_) => writeln!(
                out,
                "[{}/{total}] {name} → {}: {} domains, {} URLs{}{}",
                i + 1,
                category.name(),
                list.domains,
                list.urls,
                if list.skipped > 0 {
                    format!(", {} skipped", list.skipped)
                } else {
                    String::new()
                },
                if list.rejected > 0 {
                    format!(", {} bad lines", list.rejected)
                } else {
                    String::new()
                },
            )?,
            Err(store::StoreError::Conflict(why)) => {
                eprintln!("{name}: {why}");
                failures += 1;
            }
            Err(e) => return Err(e.into()),
        }
        out.flush()?;
    }
    store.close().await;
    Ok(if failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn show_lists(config: &FileConfig) -> anyhow::Result<ExitCode> {
    let store = open_existing(config).await?;
    let school = only_school(&store).await?;
    let lists = store.lists(school).await?;
    if lists.is_empty() {
        println!("No lists yet. Import some with `schoolgate lists import DIR --as USERNAME`.");
    }
    for l in &lists {
        let when = time::OffsetDateTime::from_unix_timestamp(l.loaded_at)
            .map(|t| t.date().to_string())
            .unwrap_or_default();
        println!(
            "{:<36} {:<18} {:>8} domains {:>6} URLs  loaded {when} by {}{}",
            l.name,
            l.category,
            l.domains,
            l.urls,
            l.loaded_by,
            if l.illegal {
                "  [illegal content: cannot be removed]"
            } else {
                ""
            }
        );
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn remove_list(config: &FileConfig, name: &str, actor: Option<&str>) -> anyhow::Result<ExitCode> {
    let store = open_existing(config).await?;
    let school = only_school(&store).await?;
    let actor = filter_manager(&store, actor).await?;
    store.remove_list(school, name, &actor, now()).await?;
    println!("Removed {name}.");
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn show_policy(config: &FileConfig, group: Option<&str>) -> anyhow::Result<ExitCode> {
    let store = open_existing(config).await?;
    let school = only_school(&store).await?;
    store.ensure_default_policies(school, now()).await?;
    for p in store.policies(school).await? {
        if group.is_none_or(|g| g.eq_ignore_ascii_case(&p.group)) {
            println!("# policy for {}\n{}", p.group, p.toml);
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn set_policy(
    config: &FileConfig,
    group: &str,
    file: &Path,
    actor: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let store = open_existing(config).await?;
    let school = only_school(&store).await?;
    let actor = filter_manager(&store, actor).await?;
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let policy = GroupPolicy::from_toml(group, &text)?;
    let checked = policy.check(group)?;
    let (snapshot, _) = store.build_snapshot(school, rand::random(), false).await?;
    if let Some(entry) = snapshot.illegal_conflicts(&checked.allow).first() {
        store
            .audit(
                school,
                actor.entry(
                    now(),
                    "policy.change.refused",
                    &format!("policy:{group}"),
                    serde_json::json!({"allow": entry}).to_string(),
                ),
            )
            .await?;
        bail!(
            "the allow entry {entry:?} covers illegal content, which nobody can allow (UKSIC-F-IL-03); nothing was changed"
        );
    }
    store
        .set_policy(school, group, &policy.to_toml(), &actor, now())
        .await?;
    println!("Policy for {group} saved; a running schoolgate applies it within a minute.");
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// How `explain` was asked.
#[derive(Debug, Clone, Default)]
pub struct ExplainOptions {
    pub group: Option<String>,
    pub user: Option<String>,
    pub at: Option<String>,
    pub json: bool,
    pub file: Option<PathBuf>,
    pub targets: Vec<String>,
}

/// The moment to decide at: RFC 3339 with an offset, or a local `YYYY-MM-DD HH:MM`.
pub fn parse_at(text: &str) -> anyhow::Result<LocalTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(LocalTime::uk(t.unix_timestamp()));
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    let fmt_t = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let local = time::PrimitiveDateTime::parse(text, &fmt).or_else(|_| time::PrimitiveDateTime::parse(text, &fmt_t));
    match local {
        Ok(t) => Ok(LocalTime::new(
            t.weekday().number_days_from_monday(),
            u16::from(t.hour()),
            u16::from(t.minute()),
        )),
        Err(_) => bail!("--at {text:?} is not a time: use 2026-11-24 10:30 (school time) or 2026-11-24T10:30:00Z"),
    }
}

async fn group_for(
    store: &Store,
    school: SchoolId,
    snapshot: &Snapshot,
    opts: &ExplainOptions,
) -> anyhow::Result<(policy::GroupId, String)> {
    let name = match (&opts.group, &opts.user) {
        (Some(g), _) => g.clone(),
        (None, Some(u)) => {
            let account = store
                .account_by_username(u)
                .await?
                .with_context(|| format!("there is no account {u:?}"))?;
            let person = store.person(school, account.person).await?;
            person.group_name.unwrap_or_else(|| UNIDENTIFIED.into())
        }
        (None, None) => UNIDENTIFIED.into(),
    };
    match snapshot.group(&name) {
        Some(g) => Ok((g, name)),
        None => {
            let g = snapshot.group(UNIDENTIFIED).context("no unidentified policy")?;
            eprintln!("{name} has no policy of its own; it gets the {UNIDENTIFIED} policy");
            Ok((g, UNIDENTIFIED.into()))
        }
    }
}

pub async fn explain(config: &FileConfig, opts: ExplainOptions) -> anyhow::Result<ExitCode> {
    let store = open_existing(config).await?;
    let school = only_school(&store).await?;
    store.ensure_default_policies(school, now()).await?;
    let (snapshot, _) = store.build_snapshot(school, rand::random(), false).await?;
    let (group, group_name) = group_for(&store, school, &snapshot, &opts).await?;
    let at = match &opts.at {
        Some(t) => parse_at(t)?,
        None => LocalTime::uk(now()),
    };
    let mut targets = opts.targets.clone();
    if let Some(f) = &opts.file {
        let file = std::fs::File::open(f).with_context(|| format!("cannot open {}", f.display()))?;
        for line in std::io::BufReader::new(file).lines() {
            let line = line?;
            if !line.trim().is_empty() && !line.trim_start().starts_with('#') {
                targets.push(line.trim().to_owned());
            }
        }
    }
    if targets.is_empty() {
        bail!("give a site to explain, such as `schoolgate explain --group KS2 www.example.com`, or --file");
    }
    let one_line = opts.file.is_some() || targets.len() > 1;
    let mut out = std::io::stdout().lock();
    for target in &targets {
        let (host, path) = policy::domain::split_target(target);
        let d = snapshot.decide(&Request {
            host: &host,
            path: path.as_deref(),
            group,
            at,
        });
        let reason = snapshot.reason(&d, target);
        let rule = snapshot.rule_name(&d);
        let category = d.category.map(|c| c.name()).unwrap_or("");
        if opts.json {
            let mut obj = serde_json::json!({
                "target": target, "group": group_name, "verdict": d.verdict.name(), "category": d.category.map(|c| c.name()),
                "rule": rule, "reason": reason,
            });
            if let policy::Verdict::SafeSearch(h) = d.verdict {
                obj["safe_search_host"] = serde_json::Value::from(h);
            }
            writeln!(out, "{obj}")?;
        } else if one_line {
            writeln!(
                out,
                "{}\t{target}\t{category}\t{rule}\t{reason}",
                d.verdict.name().to_uppercase()
            )?;
        } else {
            writeln!(out, "{}: {target} for {group_name}", d.verdict.name().to_uppercase())?;
            if !category.is_empty() {
                writeln!(out, "  category: {category}")?;
            }
            writeln!(out, "  rule:     {rule}")?;
            writeln!(out, "  reason:   {reason}")?;
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_school_time_or_with_an_offset() {
        assert_eq!(parse_at("2026-11-24 10:30").expect("local"), LocalTime::new(1, 10, 30));
        assert_eq!(
            parse_at("2026-07-01T12:00:00Z").expect("utc"),
            LocalTime::new(2, 13, 0),
            "BST"
        );
        assert!(parse_at("teatime").is_err());
    }
}
