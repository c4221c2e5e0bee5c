//! The filter from the outside: importing lists, explaining decisions, illegal-content lists,
//! and the console's filtering pages on a running server.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::{Client, demo, element_text, fixture, hidden, run, totp_now};

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test]
async fn lists_import_needs_a_filter_manager_and_reports_progress_and_bad_lines() {
    let server = demo(None);
    let data = server.data_dir().to_owned();
    let (code, _, err) = run(&["lists", "import", &fixture("ut1")], &data);
    assert_eq!(code, 1);
    assert!(err.contains("--as USERNAME"), "{err}");
    let (code, _, err) = run(&["lists", "import", &fixture("ut1"), "--as", "mbell"], &data);
    assert_eq!(code, 1);
    assert!(err.contains("does not have the filter-manager permission"), "{err}");

    let (code, out, err) = run(&["lists", "import", &fixture("ut1"), "--as", "gpryce"], &data);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("[1/4] ut1/agressif → discrimination: 10 domains, 0 URLs"),
        "{out}"
    );
    assert!(out.contains("ut1/games → games: 20 domains, 5 URLs"), "{out}");
    assert!(
        out.contains("ut1/drogue → drugs: 10 domains, 0 URLs, 2 bad lines"),
        "{out}"
    );
    assert!(
        err.contains("drogue/domains:11: character ' ' is not allowed"),
        "bad lines are named by file and line: {err}"
    );
    assert!(err.contains("drogue/domains:12: empty label"), "{err}");

    let (_, out, _) = run(&["lists", "show"], &data);
    assert!(out.contains("ut1/games") && out.contains("by cli:gpryce"), "{out}");

    // Re-importing replaces, and the audit log keeps before and after.
    let (code, _, _) = run(&["lists", "import", &fixture("ut1/games"), "--as", "gpryce"], &data);
    assert_eq!(code, 0);
    let (_, out, _) = run(&["audit", "verify"], &data);
    assert!(out.contains("chain intact"), "{out}");
}

#[tokio::test]
async fn explain_says_what_the_filter_decides_and_why() {
    let server = demo(None);
    let data = server.data_dir().to_owned();
    run(&["lists", "import", &fixture("ut1"), "--as", "gpryce"], &data);
    let games = std::fs::read_to_string(fixture("ut1/games/domains")).expect("fixture");
    let game = games.lines().nth(1).expect("a games domain");
    let hate = std::fs::read_to_string(fixture("ut1/agressif/domains")).expect("fixture");
    let hate = hate.lines().next().expect("a domain");

    // Tuesday morning: games are blocked for KS2 during lessons, not at lunch.
    let (code, out, err) = run(
        &[
            "explain",
            "--group",
            "KS2",
            "--at",
            "2026-11-24 10:00",
            "--json",
            &format!("www.{game}"),
        ],
        &data,
    );
    assert_eq!(code, 0, "{err}");
    let v = &json_lines(&out)[0];
    assert_eq!(
        (v["verdict"].as_str(), v["category"].as_str()),
        (Some("block"), Some("games")),
        "{v}"
    );
    assert!(
        v["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("between 08:45 and 12:00 on weekdays"),
        "{v}"
    );
    let (_, out, _) = run(
        &["explain", "--group", "KS2", "--at", "2026-11-24 12:30", "--json", game],
        &data,
    );
    assert_eq!(json_lines(&out)[0]["verdict"], "allow");

    // A person's group decides: the headteacher is staff.
    let (_, out, _) = run(&["explain", "--user", "hmarsh", "--json", "www.google.com"], &data);
    assert_eq!(
        json_lines(&out)[0]["verdict"],
        "allow",
        "staff have no forced safe search by default"
    );
    let (_, out, _) = run(&["explain", "--user", "hmarsh", "--json", hate], &data);
    assert_eq!(json_lines(&out)[0]["category"], "discrimination");

    // A file of targets: one line each; JSON: one object each.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("targets.txt");
    std::fs::write(
        &file,
        format!("# sites to check\n{hate}\nwww.google.co.uk\nhttps://www.bbc.co.uk/bitesize\n"),
    )
    .expect("write");
    let (code, out, _) = run(
        &["explain", "--group", "KS1", "--file", &file.display().to_string()],
        &data,
    );
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("BLOCK\t") && lines[1].starts_with("SAFE_SEARCH\t") && lines[2].starts_with("ALLOW\t"),
        "{out}"
    );
    let (_, out, _) = run(
        &[
            "explain",
            "--group",
            "KS1",
            "--json",
            "--file",
            &file.display().to_string(),
        ],
        &data,
    );
    let objects = json_lines(&out);
    assert_eq!(objects.len(), 3);
    for o in &objects {
        for key in ["target", "verdict", "category", "rule", "reason"] {
            assert!(o.get(key).is_some(), "{key} in {o}");
        }
    }
    assert_eq!(objects[1]["safe_search_host"], "forcesafesearch.google.com");
}

#[tokio::test]
async fn illegal_content_lists_block_everyone_and_nobody_can_remove_or_allow_them() {
    let server = demo(None);
    let data = server.data_dir().to_owned();
    let (code, out, err) = run(
        &[
            "lists",
            "import",
            &fixture("illegal/test-urls"),
            "--illegal",
            "--source",
            "iwf",
            "--name",
            "iwf/test",
            "--as",
            "gpryce",
        ],
        &data,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("iwf/test → illegal_content: 0 domains, 3 URLs"), "{out}");
    // UKSIC-F-IL-01: listed pages are blocked for every group, staff included.
    for group in ["EYFS", "KS2", "Staff", "Visitors", "unidentified"] {
        let (_, out, _) = run(
            &[
                "explain",
                "--group",
                group,
                "--json",
                "illegal-test.schoolgate.invalid/page-one",
            ],
            &data,
        );
        let v = &json_lines(&out)[0];
        assert_eq!(
            (v["verdict"].as_str(), v["category"].as_str()),
            (Some("block"), Some("illegal_content")),
            "{group}: {v}"
        );
        assert_eq!(
            v["rule"], "illegal-content list",
            "the rule never names the list or entry"
        );
    }
    // A URL entry blocks the page, not the whole site; DNS cannot see pages, so it blocks the host (IWF-01).
    let (_, out, _) = run(
        &[
            "explain",
            "--group",
            "Staff",
            "--json",
            "illegal-test.schoolgate.invalid/another-page",
        ],
        &data,
    );
    assert_eq!(json_lines(&out)[0]["verdict"], "allow");
    let (_, out, _) = run(
        &[
            "explain",
            "--group",
            "Staff",
            "--json",
            "illegal-test.schoolgate.invalid",
        ],
        &data,
    );
    assert_eq!(json_lines(&out)[0]["verdict"], "block");

    // UKSIC-F-IL-03: nobody can remove it, and no allow rule may cover it.
    let (code, _, err) = run(&["lists", "remove", "iwf/test", "--as", "gpryce"], &data);
    assert_eq!(code, 1);
    assert!(err.contains("nobody can remove it"), "{err}");
    let policy = data.join("../staff.toml");
    std::fs::write(&policy, "allow = [\"schoolgate.invalid\"]\n").expect("write");
    let (code, _, err) = run(
        &[
            "policy",
            "set",
            "Staff",
            &policy.display().to_string(),
            "--as",
            "gpryce",
        ],
        &data,
    );
    assert_eq!(code, 1);
    assert!(err.contains("covers illegal content"), "{err}");
    let store = store::Store::open(&store::Database::Sqlite(data.join("schoolgate.db")))
        .await
        .expect("open");
    let school = store.schools().await.expect("schools")[0].id;
    let actions: Vec<String> = store
        .audit_entries(school, 0, 10_000)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions.contains(&"list.remove.refused".into()) && actions.contains(&"policy.change.refused".into()),
        "{actions:?}"
    );
    store.close().await;
}

pub async fn filter_manager_client(server: &testkit::server::Server) -> Client {
    sign_in_enrolled(server, "gpryce").await
}

/// A demo account signed in to the console, with security codes set up when its role
/// asks for them.
pub async fn sign_in_enrolled(server: &testkit::server::Server, username: &str) -> Client {
    let c = Client::new(&server.url);
    let r = c.sign_in(username, &server.demo_password(username)).await;
    if r.location.as_deref() == Some("/sign-in/enrol") {
        let enrol = c.get("/sign-in/enrol").await;
        let secret = element_text(&enrol.body, "totp-secret").expect("secret");
        let csrf = hidden(&enrol.body, "csrf").expect("csrf");
        c.post(
            "/sign-in/enrol",
            &[("csrf", &csrf), ("secret", &secret), ("code", &totp_now(&secret))],
        )
        .await;
    } else {
        assert_eq!(r.status, reqwest::StatusCode::SEE_OTHER, "{username}: {}", r.body);
    }
    c
}

fn test_result(body: &str) -> String {
    body.split("id=\"test-result\"")
        .nth(1)
        .and_then(|s| s.split("</div>").next())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_running_server_picks_up_new_lists_and_the_console_tests_and_edits_policies() {
    let server = demo(Some("[filter]\nreload_check = \"1s\"\n"));
    let data = server.data_dir().to_owned();
    let c = filter_manager_client(&server).await;
    let hate = std::fs::read_to_string(fixture("ut1/agressif/domains")).expect("fixture");
    let hate = hate.lines().next().expect("a domain").to_owned();
    let test = format!("/filtering/test?group=KS2&target=www.{hate}");
    assert!(
        test_result(&c.get(&test).await.body).contains("Allowed"),
        "no lists yet"
    );

    run(&["lists", "import", &fixture("ut1"), "--as", "gpryce"], &data);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = test_result(&c.get(&test).await.body);
        if r.contains("Blocked") {
            assert!(r.contains("Discrimination and hate"), "{r}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the running server did not pick up the import: {r}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let lists = c.get("/filtering/lists").await;
    assert!(lists.body.contains("ut1/agressif"), "{}", lists.body);

    // Allow the site for KS2, with a reason.
    let page = c.get("/filtering/groups/KS2").await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let mut form: Vec<(&str, &str)> = vec![
        ("csrf", &csrf),
        ("block", "discrimination"),
        ("block", "adult"),
        ("safe_search", "1"),
        ("default", "allow"),
        ("youtube", "strict"),
    ];
    form.push(("allow", &hate));
    form.push(("time_rules", "block games mon-fri 08:45-15:30"));
    let no_reason = c.post("/filtering/groups/KS2", &form).await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_reason.body.contains("Say why you are making this change"));
    form.push(("reason", "History lesson on propaganda, agreed with the DSL"));
    let saved = c.post("/filtering/groups/KS2", &form).await;
    assert_eq!(
        saved.location.as_deref(),
        Some("/filtering/groups/KS2?saved=1"),
        "{}",
        saved.body
    );
    let r = test_result(&c.get(&test).await.body);
    assert!(
        r.contains("Allowed") && r.contains("allow list"),
        "the change applies at once: {r}"
    );
    let page = c.get("/filtering/groups/KS2").await;
    assert!(
        page.body.contains("History lesson on propaganda"),
        "the change log shows the reason"
    );
    assert!(page.body.contains("block games mon-fri 08:45-15:30"));

    // An allow rule that would cover illegal content is refused and recorded.
    run(
        &[
            "lists",
            "import",
            &fixture("illegal/test-urls"),
            "--illegal",
            "--source",
            "iwf",
            "--name",
            "iwf/test",
            "--as",
            "gpryce",
        ],
        &data,
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let both = format!("{hate}\nillegal-test.schoolgate.invalid");
    let mut bad: Vec<(&str, &str)> = form.iter().filter(|(k, _)| *k != "allow").copied().collect();
    bad.push(("allow", &both));
    let refused = c.post("/filtering/groups/KS2", &bad).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("would allow illegal content"), "{}", refused.body);

    // A teacher cannot see the filtering pages; a safeguarding lead can see but not edit.
    let teacher = Client::new(&server.url);
    teacher.sign_in("mbell", &server.demo_password("mbell")).await;
    assert_eq!(teacher.get("/filtering").await.status, StatusCode::FORBIDDEN);
    let csrf = teacher.csrf("/dashboard").await;
    let mut sneaky = form.clone();
    sneaky[0] = ("csrf", &csrf);
    assert_eq!(
        teacher.post("/filtering/groups/KS2", &sneaky).await.status,
        StatusCode::FORBIDDEN
    );
}
