//! The store's tests, run against SQLite always and PostgreSQL whenever one is reachable.

use register::audit::BreakReason;
use register::import;
use register::people::{PersonKind, PersonStatus, SchoolId, YearGroup};
use register::roles::Role;
use store::{Actor, Database, EventFilter, NewAccount, NewList, NewPerson, SessionStage, Store, StoreError};

mod registers;

const NOW: i64 = 1_790_000_000;

async fn each_database<F, Fut>(test: &str, body: F)
where
    F: Fn(Store, &'static str) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for db in testkit::databases(test).await {
        let store = Store::open(&Database::parse(&db.url))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", db.label));
        body(store.clone(), db.label).await;
        store.close().await;
    }
}

fn actor() -> Actor {
    Actor {
        label: "cli:test".into(),
        origin: "cli".into(),
    }
}

fn pupil(id: &str, given: &str, family: &str, year: i64) -> NewPerson {
    NewPerson {
        kind: PersonKind::Pupil,
        external_id: Some(id.into()),
        given_name: given.into(),
        family_name: family.into(),
        year: YearGroup::from_number(year),
        email: None,
        date_of_birth: None,
        class: None,
        job_title: None,
        roles: vec![],
        permissions: vec![],
        expires_at: None,
    }
}

#[tokio::test]
async fn migrations_build_the_schema_on_an_empty_database() {
    each_database(
        "migrations_build_the_schema_on_an_empty_database",
        |store, label| async move {
            assert_eq!(
                store.schema_versions().await.expect("versions"),
                vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
                "{label}"
            );
            if label == "sqlite" {
                assert_eq!(
                    store.sqlite_pragma("journal_mode").await.expect("pragma").as_deref(),
                    Some("wal")
                );
                assert_eq!(
                    store.sqlite_pragma("foreign_keys").await.expect("pragma").as_deref(),
                    Some("1")
                );
            }
        },
    )
    .await;
}

#[tokio::test]
async fn migrations_on_an_existing_database_keep_its_records() {
    for db in testkit::databases("migrations_on_an_existing_database_keep_its_records").await {
        let database = Database::parse(&db.url);
        let first = Store::open(&database).await.expect("first open");
        let school = first.create_school("Demo Primary School", NOW).await.expect("school");
        let ada = first
            .insert_person(school, &pupil("P1", "Ada", "Okafor", 3), &actor(), NOW)
            .await
            .expect("person");
        let versions = first.schema_versions().await.expect("versions");
        first.close().await;

        let again = Store::open(&database)
            .await
            .expect("second open runs the migrations again");
        assert_eq!(
            again.schema_versions().await.expect("versions"),
            versions,
            "{}: nothing re-applied",
            db.label
        );
        assert_eq!(
            again.person(school, ada).await.expect("person survives").given_name,
            "Ada"
        );
        assert_eq!(again.verify_audit(school).await.expect("verify"), Ok(1));
        again.close().await;
    }
}

#[tokio::test]
async fn a_database_left_by_an_older_version_is_upgraded_with_its_records() {
    for db in testkit::databases("a_database_left_by_an_older_version_is_upgraded_with_its_records").await {
        let database = Database::parse(&db.url);
        let old = Store::open_at_version(&database, 1).await.expect("version 1");
        assert_eq!(old.schema_versions().await.expect("versions"), vec![1], "{}", db.label);
        let school = old.create_school("Demo Primary School", NOW).await.expect("school");
        let ada = old
            .insert_person(school, &pupil("P1", "Ada", "Okafor", 3), &actor(), NOW)
            .await
            .expect("person");
        old.close().await;

        let new = Store::open(&database).await.expect("upgrade");
        assert_eq!(
            new.schema_versions().await.expect("versions"),
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            "{}",
            db.label
        );
        assert_eq!(new.person(school, ada).await.expect("kept").family_name, "Okafor");
        assert_eq!(new.verify_audit(school).await.expect("verify"), Ok(1));
        assert!(new.lists(school).await.expect("the new table is there").is_empty());
        new.close().await;
    }
}

#[tokio::test]
async fn import_adds_updates_and_marks_leavers_without_duplicating() {
    each_database(
        "import_adds_updates_and_marks_leavers_without_duplicating",
        |store, label| async move {
            let school = store.create_school("Demo Primary School", NOW).await.expect("school");
            let u = |n| import::make_upn(823, 2001, 20, n);
            let first = format!(
                "UPN,Forename,Surname,Year\n{},Ada,Okafor,R\n{},Piotr,Nowak,4\n{},Zoe,Hart,6\n",
                u(1),
                u(2),
                u(3)
            );
            let batch = import::parse("first.csv", first.as_bytes()).expect("parse");
            let s = store
                .import_people(school, "first.csv", &batch, &actor(), NOW, false)
                .await
                .expect("import");
            assert_eq!((s.added, s.updated, s.unchanged, s.leavers), (3, 0, 0, 0), "{label}");

            // Piotr moves up a year, Zoe leaves, Sam joins.
            let second = format!(
                "UPN,Forename,Surname,Year\n{},Ada,Okafor,R\n{},Piotr,Nowak,5\n{},Sam,Lee,1\n",
                u(1),
                u(2),
                u(4)
            );
            let batch = import::parse("second.csv", second.as_bytes()).expect("parse");
            let s = store
                .import_people(school, "second.csv", &batch, &actor(), NOW + 60, false)
                .await
                .expect("import");
            assert_eq!((s.added, s.updated, s.unchanged, s.leavers), (1, 1, 1, 1), "{label}");

            let (everyone, total) = store.search_people(school, "", true, 100, 0).await.expect("search");
            assert_eq!(total, 4, "{label}: re-import updates, never duplicates");
            let zoe = everyone.iter().find(|p| p.given_name == "Zoe").expect("zoe kept");
            assert_eq!(
                zoe.status,
                PersonStatus::Leaver,
                "{label}: leavers are kept, not deleted"
            );
            let piotr = everyone.iter().find(|p| p.given_name == "Piotr").expect("piotr");
            assert_eq!(piotr.year.map(|y| y.number()), Some(5));
            let sam = everyone.iter().find(|p| p.given_name == "Sam").expect("sam");
            assert_eq!(
                sam.group_name.as_deref(),
                Some("KS1"),
                "{label}: year decides the key-stage group"
            );

            let (active, n) = store.search_people(school, "", false, 100, 0).await.expect("search");
            assert_eq!(n, 3);
            assert!(active.iter().all(|p| p.status == PersonStatus::Active));

            let groups = store.groups_with_counts(school).await.expect("groups");
            let count = |name: &str| groups.iter().find(|g| g.name == name).map(|g| g.people);
            assert_eq!(
                (count("EYFS"), count("KS1"), count("KS2")),
                (Some(1), Some(1), Some(1)),
                "{label}"
            );

            // A staff-only file does not make the pupils leavers.
            let staff = import::parse(
                "staff.csv",
                "Staff code,Forename,Surname,Role\nJBR,June,Brook,Teacher\n".as_bytes(),
            )
            .expect("parse");
            let s = store
                .import_people(school, "staff.csv", &staff, &actor(), NOW + 120, false)
                .await
                .expect("import");
            assert_eq!((s.added, s.leavers), (1, 0), "{label}");

            let actions: Vec<String> = store
                .audit_entries(school, 0, 100)
                .await
                .expect("audit")
                .into_iter()
                .map(|e| e.action)
                .collect();
            for expected in ["person.create", "person.update", "person.leaver", "people.import"] {
                assert!(
                    actions.iter().any(|a| a == expected),
                    "{label}: {expected} audited in {actions:?}"
                );
            }
            assert!(store.verify_audit(school).await.expect("verify").is_ok());
        },
    )
    .await;
}

#[tokio::test]
async fn a_returning_leaver_is_active_again_with_their_account() {
    each_database(
        "a_returning_leaver_is_active_again_with_their_account",
        |store, label| async move {
            let school = store.create_school("Demo Primary School", NOW).await.expect("school");
            let staff = |rows: &str| {
                import::parse("s.csv", format!("Staff code,Forename,Surname\n{rows}").as_bytes()).expect("parse")
            };
            store
                .import_people(
                    school,
                    "s.csv",
                    &staff("JBR,June,Brook\nHMA,Hana,Malik\n"),
                    &actor(),
                    NOW,
                    false,
                )
                .await
                .expect("import");
            let (people, _) = store
                .search_people(school, "brook", false, 10, 0)
                .await
                .expect("search");
            let june = &people[0];
            let account = NewAccount {
                person: june.id,
                username: "jbrook".into(),
                password_hash: "x".into(),
                must_change_password: false,
            };
            store
                .create_account(school, &account, &actor(), NOW)
                .await
                .expect("account");

            store
                .import_people(school, "s.csv", &staff("HMA,Hana,Malik\n"), &actor(), NOW + 1, false)
                .await
                .expect("import");
            let acc = store
                .account_by_username("JBrook")
                .await
                .expect("lookup")
                .expect("account");
            assert!(acc.disabled, "{label}: a leaver's account is disabled (DFE-CS-06)");
            assert_eq!(acc.refusal(NOW + 2), Some("account disabled"));

            store
                .import_people(
                    school,
                    "s.csv",
                    &staff("JBR,June,Brook\nHMA,Hana,Malik\n"),
                    &actor(),
                    NOW + 2,
                    false,
                )
                .await
                .expect("import");
            let acc = store
                .account_by_username("jbrook")
                .await
                .expect("lookup")
                .expect("account");
            assert_eq!((acc.disabled, acc.status), (false, PersonStatus::Active), "{label}");
        },
    )
    .await;
}

#[tokio::test]
async fn the_audit_log_is_append_only_and_tampering_is_named() {
    each_database(
        "the_audit_log_is_append_only_and_tampering_is_named",
        |store, label| async move {
            let school = store.create_school("Demo Primary School", NOW).await.expect("school");
            for i in 0..5 {
                store
                    .audit(school, actor().entry(NOW + i, "sign_in", "account:1", "{}".into()))
                    .await
                    .expect("append");
            }
            assert_eq!(store.verify_audit(school).await.expect("verify"), Ok(5), "{label}");

            let refused = store
                .execute_raw("UPDATE audit_log SET actor = 'someone' WHERE seq = 3")
                .await;
            assert!(
                matches!(refused, Err(StoreError::Query(_))),
                "{label}: UPDATE must fail, got {refused:?}"
            );
            let refused = store.execute_raw("DELETE FROM audit_log WHERE seq = 3").await;
            assert!(
                matches!(refused, Err(StoreError::Query(_))),
                "{label}: DELETE must fail, got {refused:?}"
            );

            // Someone with the database's own rights goes around the triggers.
            let drop = if label == "sqlite" {
                "DROP TRIGGER audit_log_no_update"
            } else {
                "DROP TRIGGER audit_log_append_only ON audit_log"
            };
            store.execute_raw(drop).await.expect("drop trigger");
            store
                .execute_raw("UPDATE audit_log SET actor = 'someone' WHERE seq = 3")
                .await
                .expect("tamper");
            let broken = store
                .verify_audit(school)
                .await
                .expect("verify")
                .expect_err("tampering found");
            assert_eq!((broken.seq, broken.reason), (3, BreakReason::Hash), "{label}");
        },
    )
    .await;
}

#[tokio::test]
async fn cutting_entries_off_the_end_of_the_audit_log_is_found() {
    each_database(
        "cutting_entries_off_the_end_of_the_audit_log_is_found",
        |store, label| async move {
            let school = store.create_school("Demo Primary School", NOW).await.expect("school");
            for i in 0..4 {
                store
                    .audit(school, actor().entry(NOW + i, "sign_in", "account:1", "{}".into()))
                    .await
                    .expect("append");
            }
            let drop = if label == "sqlite" {
                "DROP TRIGGER audit_log_no_delete"
            } else {
                "DROP TRIGGER audit_log_append_only ON audit_log"
            };
            store.execute_raw(drop).await.expect("drop trigger");
            store
                .execute_raw("DELETE FROM audit_log WHERE seq = 4")
                .await
                .expect("delete");
            let broken = store
                .verify_audit(school)
                .await
                .expect("verify")
                .expect_err("truncation found");
            assert_eq!(broken.seq, 4, "{label}");
        },
    )
    .await;
}

#[tokio::test]
async fn every_record_belongs_to_its_school() {
    each_database("every_record_belongs_to_its_school", |store, label| async move {
        let a = store.create_school("Demo Primary School", NOW).await.expect("school");
        let b = store.create_school("Second Academy", NOW).await.expect("school");
        let ada = store
            .insert_person(a, &pupil("P1", "Ada", "Okafor", 2), &actor(), NOW)
            .await
            .expect("person");
        store
            .insert_person(b, &pupil("P1", "Ben", "Okafor", 2), &actor(), NOW)
            .await
            .expect("same MIS id, other school");
        let (found, _) = store.search_people(b, "okafor", true, 10, 0).await.expect("search");
        assert_eq!(
            found.iter().map(|p| p.given_name.as_str()).collect::<Vec<_>>(),
            vec!["Ben"],
            "{label}"
        );
        assert!(
            matches!(store.person(b, ada).await, Err(StoreError::NotFound(_))),
            "{label}: no reaching across schools"
        );
        assert_eq!(store.verify_audit(a).await.expect("verify"), Ok(1));
        assert_eq!(
            store.verify_audit(b).await.expect("verify"),
            Ok(1),
            "{label}: one chain per school"
        );
        assert_eq!(store.verify_audit(SchoolId(999)).await.expect("verify"), Ok(0));
    })
    .await;
}

#[tokio::test]
async fn accounts_sessions_failures_and_setup_links() {
    each_database(
        "accounts_sessions_failures_and_setup_links",
        |store, label| async move {
            let school = store.create_school("Demo Primary School", NOW).await.expect("school");
            let mut head = pupil("S1", "Hana", "Malik", 0);
            head.kind = PersonKind::Staff;
            head.year = None;
            head.roles = vec![Role::Headteacher];
            let person = store.insert_person(school, &head, &actor(), NOW).await.expect("person");
            let new = NewAccount {
                person,
                username: "hmalik".into(),
                password_hash: "h".into(),
                must_change_password: true,
            };
            store
                .create_account(school, &new, &actor(), NOW)
                .await
                .expect("account");
            let dup = NewAccount {
                username: "hmalik".into(),
                ..new.clone()
            };
            assert!(
                matches!(
                    store.create_account(school, &dup, &actor(), NOW).await,
                    Err(StoreError::Conflict(_))
                ),
                "{label}"
            );

            let acc = store
                .account_by_username(" HMalik ")
                .await
                .expect("lookup")
                .expect("found");
            assert!(acc.must_change_password);
            assert!(acc.authority().has_role(Role::Headteacher));

            let sid = store
                .create_session(&acc, "tokenhash", SessionStage::SecondFactor, "127.0.0.1", NOW)
                .await
                .expect("session");
            store
                .set_session_stage(sid, SessionStage::Ready, NOW + 5)
                .await
                .expect("stage");
            let s = store.session("tokenhash").await.expect("session").expect("open");
            assert_eq!((s.stage, s.last_seen_at), (SessionStage::Ready, NOW + 5), "{label}");
            store.end_session(sid, NOW + 10).await.expect("end");
            assert_eq!(store.session("tokenhash").await.expect("session"), None);

            assert!(store.claim_totp_step(acc.id, 100).await.expect("claim"));
            assert!(
                !store.claim_totp_step(acc.id, 100).await.expect("claim"),
                "{label}: a TOTP code is good once"
            );
            assert!(!store.claim_totp_step(acc.id, 99).await.expect("claim"));

            for i in 0..3 {
                store
                    .record_sign_in_failure("HMALIK", "10.0.0.9", NOW + i)
                    .await
                    .expect("failure");
            }
            assert_eq!(
                store.sign_in_failures("hmalik", "10.0.0.9", NOW).await.expect("count"),
                (3, 3)
            );
            assert_eq!(
                store
                    .sign_in_failures("hmalik", "10.0.0.9", NOW + 2)
                    .await
                    .expect("count"),
                (1, 1)
            );
            store.clear_sign_in_failures("hmalik").await.expect("clear");
            assert_eq!(store.sign_in_failures("hmalik", "x", NOW).await.expect("count").0, 0);

            store
                .create_setup_token(school, "setup", NOW, NOW + 3600)
                .await
                .expect("token");
            assert_eq!(
                store.setup_token_school("setup", NOW + 1).await.expect("lookup"),
                Some(school)
            );
            assert_eq!(
                store.setup_token_school("setup", NOW + 3600).await.expect("lookup"),
                None,
                "{label}: expired"
            );
            assert!(store.consume_setup_token("setup", NOW + 2).await.expect("consume"));
            assert!(
                !store.consume_setup_token("setup", NOW + 3).await.expect("consume"),
                "{label}: a setup link works once"
            );
        },
    )
    .await;
}

#[tokio::test]
async fn an_import_that_would_empty_the_school_is_refused_unless_allowed() {
    each_database(
        "an_import_that_would_empty_the_school_is_refused_unless_allowed",
        |store, label| async move {
            let school = store.create_school("Demo Primary School", NOW).await.expect("school");
            let rows: String = (0..20).map(|i| format!("P{i},Child{i},Family,3\n")).collect();
            let full =
                import::parse("full.csv", format!("ID,Forename,Surname,Year\n{rows}").as_bytes()).expect("parse");
            store
                .import_people(school, "full.csv", &full, &actor(), NOW, false)
                .await
                .expect("import");
            let starters = import::parse(
                "starters.csv",
                "ID,Forename,Surname,Year\nP99,New,Starter,R\n".as_bytes(),
            )
            .expect("parse");
            let refused = store
                .import_people(school, "starters.csv", &starters, &actor(), NOW + 1, false)
                .await;
            let Err(StoreError::Conflict(why)) = refused else {
                panic!("{label}: expected a refusal, got {refused:?}")
            };
            assert!(why.contains("20 of the 20 pupils"), "{why}");
            let (_, total) = store.search_people(school, "", false, 100, 0).await.expect("search");
            assert_eq!(total, 20, "{label}: nothing changed, not even the new starter");
            let s = store
                .import_people(school, "starters.csv", &starters, &actor(), NOW + 2, true)
                .await
                .expect("allowed");
            assert_eq!((s.added, s.leavers), (1, 20), "{label}");
        },
    )
    .await;
}

#[tokio::test]
async fn lists_are_replaced_whole_and_illegal_lists_cannot_be_removed_or_downgraded() {
    each_database(
        "lists_are_replaced_whole_and_illegal_lists_cannot_be_removed_or_downgraded",
        |store, label| async move {
            let school = store.create_school("Demo Primary School", NOW).await.expect("school");
            let list = |name: &str, illegal: bool, content: &str| NewList {
                name: name.into(),
                source: "test".into(),
                category: if illegal {
                    "illegal_content".into()
                } else {
                    "games".into()
                },
                illegal,
                domains: content.lines().count() as i64,
                urls: 0,
                skipped: 0,
                rejected: 0,
                content: content.as_bytes().to_vec(),
            };
            store
                .replace_list(school, &list("ut1/games", false, "a.example\n"), &actor(), NOW)
                .await
                .expect("first");
            let second = store
                .replace_list(
                    school,
                    &list("ut1/games", false, "a.example\nb.example\n"),
                    &actor(),
                    NOW + 1,
                )
                .await
                .expect("second");
            let all = store.lists(school).await.expect("lists");
            assert_eq!(all.len(), 1, "{label}: replaced, not added");
            assert_eq!((all[0].domains, all[0].loaded_at), (2, NOW + 1));
            assert_eq!(
                store.list_content(school, second.id).await.expect("content"),
                b"a.example\nb.example\n"
            );
            assert_eq!(all[0].sha256, store::sha256_hex(b"a.example\nb.example\n"));

            store
                .replace_list(school, &list("iwf/urls", true, "bad.example\n"), &actor(), NOW)
                .await
                .expect("illegal");
            let refused = store.remove_list(school, "iwf/urls", &actor(), NOW).await;
            assert!(matches!(refused, Err(StoreError::Conflict(_))), "{label}: {refused:?}");
            let downgraded = store
                .replace_list(school, &list("iwf/urls", false, ""), &actor(), NOW)
                .await;
            assert!(matches!(downgraded, Err(StoreError::Conflict(_))), "{label}");
            store
                .remove_list(school, "ut1/games", &actor(), NOW)
                .await
                .expect("ordinary lists can go");
            let actions: Vec<String> = store
                .audit_entries(school, 0, 100)
                .await
                .expect("audit")
                .into_iter()
                .map(|e| e.action)
                .collect();
            assert!(actions.contains(&"list.remove.refused".to_owned()), "{actions:?}");
            assert_eq!(store.lists(school).await.expect("lists").len(), 1);
        },
    )
    .await;
}

#[tokio::test]
async fn policy_changes_keep_before_and_after_in_the_audit_log() {
    each_database(
        "policy_changes_keep_before_and_after_in_the_audit_log",
        |store, label| async move {
            let school = store.create_school("Demo Primary School", NOW).await.expect("school");
            store
                .set_policy(school, "KS2", "block = [\"games\"]\n", &actor(), NOW)
                .await
                .expect("set");
            store
                .set_policy(school, "KS2", "block = [\"games\"]\n", &actor(), NOW + 1)
                .await
                .expect("unchanged");
            store
                .set_policy(school, "KS2", "block = []\n", &actor(), NOW + 2)
                .await
                .expect("change");
            let p = store.policies(school).await.expect("policies");
            assert_eq!(
                (p[0].group.as_str(), p[0].toml.as_str(), p[0].updated_at),
                ("KS2", "block = []\n", NOW + 2),
                "{label}"
            );
            let log = store.audit_for_target(school, "policy:KS2", 10).await.expect("log");
            assert_eq!(log.len(), 2, "{label}: an unchanged save is not a change");

            // Changes within one second still change what a running server compares.
            let before = store.filter_generation(school).await.expect("generation");
            store
                .set_policy(school, "KS2", "block = [\"games\"]\n", &actor(), NOW + 2)
                .await
                .expect("change in the same second");
            let after = store.filter_generation(school).await.expect("generation");
            assert_ne!(before, after, "{label}");
            store
                .set_policy(school, "KS2", "block = []\n", &actor(), NOW + 2)
                .await
                .expect("and back");
            assert_ne!(
                after,
                store.filter_generation(school).await.expect("generation"),
                "{label}"
            );
            assert!(
                log[0].details.contains("\"before\":\"block = [\\\"games\\\"]\\n\""),
                "{}",
                log[0].details
            );
        },
    )
    .await;
}

/// A queue and the store's event writer draining it; the writer ends when the queue is dropped.
fn event_writer(store: &Store, school: SchoolId) -> (events::EventQueue, tokio::task::JoinHandle<()>) {
    let (queue, rx) = events::EventQueue::new(10_000);
    let store = store.clone();
    (
        queue,
        tokio::spawn(async move { store.run_event_writer(school, rx).await }),
    )
}

#[tokio::test]
async fn filter_events_are_written_in_batches_and_searched_by_person_verdict_and_time() {
    each_database(
        "filter_events_are_written_in_batches_and_searched_by_person_verdict_and_time",
        |store, label| async move {
            let school = store.create_school("Demo Primary School", NOW).await.expect("school");
            let (queue, writer) = event_writer(&store, school);
            for i in 0..1200i64 {
                queue.push(events::FilterEvent {
                    at_ms: NOW * 1000 + i,
                    client: "10.20.0.5".parse().expect("ip"),
                    person: Some(if i % 3 == 0 { "zhart".into() } else { "apatel".into() }),
                    group: "KS2".into(),
                    name: format!("site{i}.example"),
                    kind: "A".into(),
                    verdict: if i % 4 == 0 { "block" } else { "allow" },
                    category: (i % 4 == 0).then_some("games"),
                    rule: "category games (list ut1/games)".into(),
                    status: "NoError".into(),
                    url: (i == 1199).then(|| "http://site1199.example/?q=volcanoes".into()),
                    bytes: (i == 1199).then_some(1234),
                    search: (i == 1199).then(|| "volcanoes".into()),
                    ..Default::default()
                });
            }
            drop(queue);
            writer.await.expect("writer finishes when the queue closes");
            let all = EventFilter::default();
            let (page, more) = store.search_events(school, &all, 100, 0).await.expect("search");
            assert_eq!((page.len(), more), (100, true), "{label}");
            assert_eq!(page[0].name, "site1199.example", "newest first");
            assert_eq!(
                (page[0].url.as_deref(), page[0].bytes, page[0].search.as_deref()),
                (
                    Some("http://site1199.example/?q=volcanoes"),
                    Some(1234),
                    Some("volcanoes")
                ),
                "{label}: the proxy's fields"
            );
            assert_eq!((page[1].url.as_deref(), page[1].bytes), (None, None));
            let zoe_blocked = EventFilter {
                person: Some("zhart".into()),
                verdict: Some("block".into()),
                ..Default::default()
            };
            let (rows, _) = store
                .search_events(school, &zoe_blocked, 1000, 0)
                .await
                .expect("search");
            assert_eq!(rows.len(), 100, "{label}: every 12th event is zhart's and blocked");
            assert!(rows.iter().all(|r| r.person.as_deref() == Some("zhart")
                && r.verdict == "block"
                && r.category.as_deref() == Some("games")));
            let window = EventFilter {
                from_ms: Some(NOW * 1000 + 10),
                to_ms: Some(NOW * 1000 + 19),
                ..Default::default()
            };
            assert_eq!(
                store
                    .search_events(school, &window, 1000, 0)
                    .await
                    .expect("search")
                    .0
                    .len(),
                10,
                "{label}"
            );
            let by_name = EventFilter {
                name: Some("site77.".into()),
                ..Default::default()
            };
            assert_eq!(
                store
                    .search_events(school, &by_name, 1000, 0)
                    .await
                    .expect("search")
                    .0
                    .len(),
                1
            );
        },
    )
    .await;
}

#[tokio::test]
async fn the_monitor_reads_each_schools_new_searches_and_blocks_a_batch_at_a_time() {
    each_database(
        "the_monitor_reads_each_schools_new_searches_and_blocks_a_batch_at_a_time",
        |store, label| async move {
            let school = store.create_school("Demo Primary School", NOW).await.expect("school");
            let other = store.create_school("Other School", NOW).await.expect("school");
            for (s, n) in [(school, 30i64), (other, 10)] {
                let (queue, writer) = event_writer(&store, s);
                for i in 0..n {
                    queue.push(events::FilterEvent {
                        at_ms: NOW * 1000 + i,
                        client: "10.20.0.5".parse().expect("ip"),
                        group: "KS2".into(),
                        name: format!("site{i}.example"),
                        kind: "A".into(),
                        verdict: if i % 3 == 0 { "block" } else { "allow" },
                        status: "NoError".into(),
                        search: (i == 7).then(|| "volcanoes".into()),
                        ..Default::default()
                    });
                }
                drop(queue);
                writer.await.expect("writer");
            }
            // Read as the monitor does, ten events looked at a time, until it is level.
            let (mut cursor, mut seen) = (0, Vec::new());
            loop {
                let (batch, last) = store.monitored_events(school, cursor, 10).await.expect("read");
                assert!(batch.iter().all(|e| e.id > cursor && e.id <= last), "{label}");
                seen.extend(batch);
                if last == cursor {
                    break;
                }
                cursor = last;
            }
            let names: Vec<&str> = seen.iter().map(|e| e.name.as_str()).collect();
            let mut expected: Vec<String> = (0..30)
                .filter(|i| i % 3 == 0)
                .map(|i| format!("site{i}.example"))
                .collect();
            expected.insert(3, "site7.example".into());
            assert_eq!(
                names, expected,
                "{label}: only this school's blocks and searches, in order"
            );
            assert!(seen.windows(2).all(|w| w[0].id < w[1].id), "{label}");
            assert_eq!(seen[3].search.as_deref(), Some("volcanoes"), "{label}");
        },
    )
    .await;
}

#[tokio::test]
async fn a_device_asking_the_same_name_again_and_again_is_one_row_with_its_count() {
    // DFE-FM-3.11: every attempt still shows who, where, when and what; the digest counts
    // each attempt, not each row.
    each_database(
        "a_device_asking_the_same_name_again_and_again_is_one_row_with_its_count",
        |store, label| async move {
            let school = store.create_school("Demo Primary School", NOW).await.expect("school");
            let (queue, writer) = event_writer(&store, school);
            let attempt = |i: i64, client: &str| events::FilterEvent {
                at_ms: NOW * 1000 + i,
                client: client.parse().expect("ip"),
                person: Some("zhart".into()),
                group: "KS2".into(),
                name: "game.example".into(),
                kind: "A".into(),
                verdict: "block",
                category: Some("games"),
                rule: "category games (list ut1/games)".into(),
                status: "NoError".into(),
                latency_us: 10 + i as u32,
                ..Default::default()
            };
            for i in 0..40 {
                queue.push(attempt(i, "10.20.0.5"));
            }
            queue.push(attempt(3, "10.20.0.6"));
            drop(queue);
            writer.await.expect("writer finishes when the queue closes");
            let (rows, _) = store
                .search_events(school, &EventFilter::default(), 100, 0)
                .await
                .expect("search");
            let mut got: Vec<_> = rows
                .iter()
                .map(|r| (r.client.as_str(), r.at_ms - NOW * 1000, r.repeats, r.latency_us))
                .collect();
            got.sort();
            assert_eq!(
                got,
                vec![("10.20.0.5", 0, 40, 49), ("10.20.0.6", 3, 1, 13)],
                "{label}: first time, count, slowest answer"
            );
            let top = store
                .top_blocked(school, NOW * 1000 - 1, NOW * 1000 + 1000, 5)
                .await
                .expect("top blocked");
            assert_eq!(
                top.iter()
                    .map(|c| (c.category.as_str(), c.blocks, c.people))
                    .collect::<Vec<_>>(),
                vec![("games", 41, 1)],
                "{label}: every attempt counted, one person"
            );
        },
    )
    .await;
}

#[tokio::test]
async fn a_setup_link_is_used_up_only_when_the_first_administrator_is_created() {
    each_database(
        "a_setup_link_is_used_up_only_when_the_first_administrator_is_created",
        |store, label| async move {
            let school = store.create_school("Our School", NOW).await.expect("school");
            let mut admin = pupil("", "Alex", "Rivers", 0);
            admin.kind = PersonKind::Staff;
            admin.external_id = None;
            admin.year = None;
            admin.roles = vec![Role::ItAdministrator];
            // Someone already has the username: the attempt fails and changes nothing.
            let mut other = admin.clone();
            other.given_name = "Other".into();
            let p = store
                .insert_person(school, &other, &actor(), NOW)
                .await
                .expect("person");
            let taken = NewAccount {
                person: p,
                username: "arivers".into(),
                password_hash: "h".into(),
                must_change_password: false,
            };
            store
                .create_account(school, &taken, &actor(), NOW)
                .await
                .expect("account");
            store
                .create_setup_token(school, "link", NOW, NOW + 3600)
                .await
                .expect("token");
            let clash = store
                .create_first_administrator("link", &admin, "arivers", "h", &actor(), NOW + 1)
                .await;
            assert!(matches!(clash, Err(StoreError::Conflict(_))), "{label}: {clash:?}");
            let (people, _) = store.search_people(school, "alex", true, 10, 0).await.expect("search");
            assert!(people.is_empty(), "{label}: no person left behind");
            assert!(
                store
                    .create_first_administrator("link", &admin, "alexr", "h", &actor(), NOW + 2)
                    .await
                    .expect("works"),
                "{label}: the link still works"
            );
            assert!(
                !store
                    .create_first_administrator("link", &admin, "alexr2", "h", &actor(), NOW + 3)
                    .await
                    .expect("refused"),
                "{label}: once"
            );
            assert!(store.account_by_username("alexr").await.expect("lookup").is_some());
        },
    )
    .await;
}

#[tokio::test]
async fn unblock_requests_are_filed_answered_once_and_become_exceptions_in_the_filter() {
    each_database(
        "unblock_requests_are_filed_answered_once_and_become_exceptions_in_the_filter",
        |store, label| async move {
            let school = store.create_school("Demo Primary School", NOW).await.expect("school");
            store
                .set_policy(school, "KS2", "deny = [\"games.example\"]\n", &actor(), NOW)
                .await
                .expect("policy");
            store
                .set_policy(school, "KS1", "deny = [\"games.example\"]\n", &actor(), NOW)
                .await
                .expect("policy");
            let ask = |person: Option<&str>, target: &str| store::NewUnblockRequest {
                person: person.map(str::to_owned),
                client: "10.20.0.5".into(),
                group: "KS2".into(),
                target: target.into(),
                why: "  our class is doing a maths quiz  ".into(),
            };
            let id = store
                .create_unblock_request(school, &ask(Some("zhart"), "games.example/quiz"), NOW)
                .await
                .expect("filed");
            let again = store
                .create_unblock_request(school, &ask(Some("zhart"), "games.example/quiz"), NOW + 5)
                .await
                .expect("filed again");
            assert_eq!(id, again, "{label}: asking twice while it waits is one request");
            let other = store
                .create_unblock_request(school, &ask(None, "games.example/arcade"), NOW + 6)
                .await
                .expect("filed by nobody known");
            let pending = store
                .unblock_requests(school, Some("pending"), 10)
                .await
                .expect("queue");
            assert_eq!(
                pending.iter().map(|r| r.id).collect::<Vec<_>>(),
                vec![id, other],
                "{label}: oldest first"
            );
            assert_eq!(pending[0].why, "our class is doing a maths quiz");

            let generation = store.filter_generation(school).await.expect("generation");
            let manager = store::Actor {
                label: "account:5 gpryce".into(),
                origin: "10.0.0.2".into(),
            };
            let far = unix_now() + 86_400;
            store
                .answer_unblock_request(
                    school,
                    id,
                    &store::Answer::Allow {
                        scope: store::Scope::Person("zhart".into()),
                        entry: "games.example/quiz".into(),
                        expires_at: Some(far),
                    },
                    &manager,
                    NOW + 60,
                )
                .await
                .expect("allowed");
            assert_ne!(
                generation,
                store.filter_generation(school).await.expect("generation"),
                "{label}"
            );
            let answered_twice = store
                .answer_unblock_request(
                    school,
                    id,
                    &store::Answer::Decline { reason: "no".into() },
                    &manager,
                    NOW + 61,
                )
                .await;
            assert!(matches!(answered_twice, Err(store::StoreError::Conflict(_))), "{label}");
            store
                .answer_unblock_request(
                    school,
                    other,
                    &store::Answer::Decline {
                        reason: "Arcade games are for home.".into(),
                    },
                    &manager,
                    NOW + 62,
                )
                .await
                .expect("declined");
            let mine = store.unblock_requests_of(school, "zhart", 5).await.expect("mine");
            assert_eq!((mine[0].status.as_str(), mine[0].expires_at), ("allowed", Some(far)));
            let theirs = store
                .unblock_requests_of(school, "10.20.0.5", 5)
                .await
                .expect("by address");
            assert_eq!(theirs[0].answer.as_deref(), Some("Arcade games are for home."));

            // The filter built now lets zhart (and nobody else) reach the page.
            let (snapshot, _) = store.build_snapshot(school, 3, false).await.expect("snapshot");
            let g = snapshot.group("KS2").expect("KS2");
            let at = policy::LocalTime::uk(NOW);
            let req = policy::Request {
                host: "games.example",
                path: Some("/quiz/1"),
                group: g,
                at,
            };
            assert_eq!(
                snapshot.decide_for(&req, Some("zhart")).verdict,
                policy::Verdict::Allow,
                "{label}"
            );
            assert_eq!(
                snapshot.decide_for(&req, Some("apatel")).verdict,
                policy::Verdict::Block
            );

            // A group exception joins that group's allow list only; an expired one is gone.
            let third = store
                .create_unblock_request(school, &ask(Some("apatel"), "games.example"), NOW + 70)
                .await
                .expect("filed");
            store
                .answer_unblock_request(
                    school,
                    third,
                    &store::Answer::Allow {
                        scope: store::Scope::Group("KS2".into()),
                        entry: "games.example".into(),
                        expires_at: None,
                    },
                    &manager,
                    NOW + 80,
                )
                .await
                .expect("allowed for KS2");
            let (snapshot, _) = store.build_snapshot(school, 3, false).await.expect("snapshot");
            let ask_group = |group: &str| {
                snapshot.decide(&policy::Request {
                    host: "games.example",
                    path: None,
                    group: snapshot.group(group).expect("group"),
                    at,
                })
            };
            assert_eq!(ask_group("KS2").verdict, policy::Verdict::Allow, "{label}");
            assert_eq!(ask_group("KS1").verdict, policy::Verdict::Block, "{label}");
            let past = store
                .answer_unblock_request(
                    school,
                    store
                        .create_unblock_request(school, &ask(Some("bkhan"), "x.example"), NOW + 90)
                        .await
                        .expect("filed"),
                    &store::Answer::Allow {
                        scope: store::Scope::Everyone,
                        entry: "x.example".into(),
                        expires_at: Some(NOW),
                    },
                    &manager,
                    NOW + 100,
                )
                .await;
            assert!(
                matches!(past, Err(store::StoreError::Invalid(_))),
                "{label}: an end already past"
            );

            let log = store
                .audit_for_target(school, &format!("unblock_request:{id}"), 10)
                .await
                .expect("log");
            let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
            assert!(
                actions.contains(&"unblock.request") && actions.contains(&"unblock.allow"),
                "{actions:?}"
            );
            assert_eq!(
                store.verify_audit(school).await.expect("verify").map(|_| ()),
                Ok(()),
                "{label}"
            );
        },
    )
    .await;
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn alert(person: &str, at: i64, severity: u8, staff: bool) -> store::NewAlert {
    store::NewAlert {
        occurred_at: at,
        person: Some(person.into()),
        subject: if staff { "staff".into() } else { "KS3".into() },
        group: if staff { "Staff".into() } else { "KS3".into() },
        client: Some("10.0.0.5".into()),
        source: "search".into(),
        text: "how to kill myself".into(),
        match_start: 7,
        match_end: 18,
        phrase: "kill myself".into(),
        category: "suicide".into(),
        severity,
        reason: "\"kill myself\" (Suicide, en): severity 5".into(),
        fold_key: format!("{person}|search|suicide|kill myself"),
        about_staff: staff,
        about_head: person == "head",
    }
}

/// Issue 6: repeats fold into one alert with a count; alerts about staff are out of the
/// DSL team's sight; every read is audited; triage is recorded and audited.
#[tokio::test]
async fn alerts_fold_repeats_hide_staff_alerts_from_the_dsl_team_and_audit_every_read() {
    use store::{AlertScope, Triage};
    each_database("alerts_fold", |store, label| async move {
        let school = store.create_school("Demo", NOW).await.expect("school");
        let dsl = Actor {
            label: "account:2 dsl".into(),
            origin: "10.0.0.9".into(),
        };
        let first = store
            .record_alert(school, &alert("amy", NOW, 4, false), 3600, NOW)
            .await
            .expect("record");
        assert!(!first.folded, "{label}");
        let again = store
            .record_alert(school, &alert("amy", NOW + 600, 5, false), 3600, NOW + 600)
            .await
            .expect("fold");
        assert_eq!(
            (again.id, again.folded, again.count, again.severity),
            (first.id, true, 2, 5),
            "{label}"
        );
        // Outside the window it is a new alert.
        let later = store
            .record_alert(school, &alert("amy", NOW + 600 + 3601, 4, false), 3600, NOW + 5000)
            .await
            .expect("new");
        assert_ne!(later.id, first.id, "{label}");
        let staff = store
            .record_alert(school, &alert("mr_x", NOW, 3, true), 3600, NOW)
            .await
            .expect("staff");

        let seen = store
            .alerts(school, AlertScope::Safeguarding, Some("new"), 50, &dsl, NOW)
            .await
            .expect("list");
        assert_eq!(seen.len(), 2, "{label}: the staff alert is not the DSL's");
        assert!(
            store
                .alert(school, staff.id, AlertScope::Safeguarding, &dsl, NOW)
                .await
                .is_err(),
            "{label}"
        );
        let head = store
            .alerts(school, AlertScope::Headteacher, None, 50, &actor(), NOW)
            .await
            .expect("head");
        assert_eq!(head.len(), 3, "{label}");
        let one = store
            .alert(school, first.id, AlertScope::Safeguarding, &dsl, NOW)
            .await
            .expect("read");
        assert_eq!(
            (one.count, one.severity, &one.text[one.match_start..one.match_end]),
            (2, 5, "kill myself")
        );

        store
            .triage_alert(
                school,
                first.id,
                AlertScope::Safeguarding,
                &Triage::Dismiss {
                    context: "how to".into(),
                },
                &dsl,
                NOW + 60,
            )
            .await
            .expect("dismiss");
        let err = store
            .triage_alert(
                school,
                later.id,
                AlertScope::Safeguarding,
                &Triage::Note(" ".into()),
                &dsl,
                NOW,
            )
            .await
            .expect_err("an empty note");
        assert!(err.to_string().contains("Write what was done"), "{err}");
        store
            .triage_alert(
                school,
                later.id,
                AlertScope::Safeguarding,
                &Triage::Escalate("Spoke to Amy; incident opened".into()),
                &dsl,
                NOW,
            )
            .await
            .expect("escalate");
        assert_eq!(
            store.dismissals(school).await.expect("dismissals")[0].phrase,
            "kill myself"
        );
        assert_eq!(
            store
                .open_alert_count(school, AlertScope::Safeguarding)
                .await
                .expect("open"),
            0
        );
        assert_eq!(
            store
                .open_alert_count(school, AlertScope::Headteacher)
                .await
                .expect("open"),
            1
        );
        let counts = store
            .alert_counts(school, AlertScope::Safeguarding, NOW - 10, NOW + 10_000)
            .await
            .expect("counts");
        assert_eq!(counts.iter().map(|c| c.alerts).sum::<i64>(), 2, "{label}: {counts:?}");

        let audit = store.recent_audit(school, 50).await.expect("audit");
        let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
        for a in [
            "monitor.alert",
            "monitor.alerts.list",
            "monitor.alert.read",
            "monitor.alert.dismissed",
            "monitor.alert.escalated",
        ] {
            assert!(actions.contains(&a), "{label}: {a} missing from {actions:?}");
        }
        assert!(
            audit.iter().all(|e| !e.details.contains("kill myself")),
            "{label}: alert text must never reach the audit log"
        );
    })
    .await;
}

#[tokio::test]
async fn the_outbox_keeps_mail_until_sent_and_queues_each_digest_once() {
    each_database("outbox", |store, label| async move {
        let school = store.create_school("Demo", NOW).await.expect("school");
        let mail = store::NewMail {
            kind: "digest".into(),
            recipients: vec!["head@school.example".into(), "dsl@school.example".into()],
            subject: "Online safety digest".into(),
            text: "No concerns were raised yesterday.".into(),
            html: "<p>No concerns were raised yesterday.</p>".into(),
        };
        let ids = store
            .queue_digest(school, "digest", "2026-11-23", std::slice::from_ref(&mail), NOW)
            .await
            .expect("queue")
            .expect("first");
        let id = ids[0];
        let again = store
            .queue_digest(school, "digest", "2026-11-23", &[mail], NOW)
            .await
            .expect("again");
        assert_eq!(again, None, "{label}");
        assert!(
            store
                .digest_queued(school, "digest", "2026-11-23")
                .await
                .expect("queued")
        );
        let due = store.due_mail(NOW, 10).await.expect("due");
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].recipients.len(), 2);
        store
            .mail_failed(id, "connection refused", NOW + 60)
            .await
            .expect("failed");
        assert!(
            store.due_mail(NOW + 30, 10).await.expect("due").is_empty(),
            "{label}: waits for the retry"
        );
        assert_eq!(store.stuck_mail(school).await.expect("stuck").len(), 1);
        assert_eq!(store.due_mail(NOW + 60, 10).await.expect("due").len(), 1);
        store.mail_sent(id, NOW + 61).await.expect("sent");
        assert!(store.stuck_mail(school).await.expect("stuck").is_empty());
        let sent = store.mail(id).await.expect("mail").expect("kept");
        assert_eq!((sent.attempts, sent.sent_at), (2, Some(NOW + 61)), "{label}");
    })
    .await;
}

/// Issue 7: an incident is recorded with its people, access is decided by the register's
/// matrix on facts read without content, every reading is audited, and the chronology can
/// be added to (backdated entries sort into place, corrections name what they correct) but
/// never changed — not even by SQL.
#[tokio::test]
async fn incidents_are_recorded_read_with_audit_and_their_chronology_is_append_only() {
    use register::incidents::{Action, Category, Concerns, Involved, Part, Record, Status, may};
    use store::{NewEntry, NewIncident, NewInvolved};
    each_database("incidents", |store, label| async move {
        let school = store.create_school("Demo", NOW).await.expect("school");
        let amy = store
            .insert_person(school, &pupil("P1", "Amy", "Ames", 8), &actor(), NOW)
            .await
            .expect("amy");
        let mut t = pupil("S1", "Tom", "Teach", 0);
        t.kind = PersonKind::Staff;
        t.year = None;
        t.roles = vec![Role::Teacher];
        let teacher = store.insert_person(school, &t, &actor(), NOW).await.expect("teacher");
        let mut d = t.clone();
        d.external_id = Some("S2".into());
        d.given_name = "Dee".into();
        d.roles = vec![Role::Dsl];
        let dsl = store.insert_person(school, &d, &actor(), NOW).await.expect("dsl");
        let reporter = Actor {
            label: "account:9 tteach".into(),
            origin: "10.0.0.7".into(),
        };
        let n = NewIncident {
            reported_by: teacher,
            occurred_at: NOW - 3600,
            place: "outside".into(),
            device: "Snapchat".into(),
            what: "Amy was sent messages by an older boy asking for photos.".into(),
            category: Category::Grooming,
            people: vec![NewInvolved {
                person: Some(amy),
                name: "Amy Ames".into(),
                involved: Involved::Pupil,
                part: Part::Affected,
            }],
            urgent: true,
            alert_id: None,
            retain_other_years: 6,
        };
        let bad = NewIncident {
            what: " ".into(),
            ..n.clone()
        };
        assert!(
            store.create_incident(school, &bad, &reporter, NOW).await.is_err(),
            "{label}"
        );
        let id = store.create_incident(school, &n, &reporter, NOW).await.expect("create");

        let facts = store.incident_facts(school, Some(id)).await.expect("facts").remove(0);
        assert_eq!(facts.concerns, Concerns::Pupils);
        let record = Record {
            concerns: facts.concerns,
            people: &facts.people,
            sealed_to: facts.sealed_to.as_deref(),
        };
        assert!(may(dsl, &[Role::Dsl], &record, Action::See), "{label}");
        assert!(
            !may(teacher, &[Role::Teacher], &record, Action::See),
            "{label}: the reporter sees only their report"
        );
        assert!(
            !may(amy, &[Role::Dsl], &record, Action::See),
            "{label}: never about yourself"
        );
        assert_eq!(
            store.own_reports(school, teacher).await.expect("own")[0].3,
            Status::Open
        );

        let reader = Actor {
            label: "account:3 ddsl".into(),
            origin: "10.0.0.8".into(),
        };
        let read = store
            .read_incident(school, id, &reader, false, NOW + 10)
            .await
            .expect("read");
        assert_eq!(
            (read.category, read.urgent, read.opened_at),
            (Category::Grooming, true, None)
        );
        assert_eq!(read.people[0].1, "Amy Ames");
        let again = store
            .read_incident(school, id, &reader, false, NOW + 20)
            .await
            .expect("read");
        assert_eq!(
            again.opened_at,
            Some(NOW + 10),
            "{label}: opened once, by the first reader"
        );

        let note = NewEntry {
            happened_at: NOW + 100,
            kind: "action".into(),
            action: Some("parents_informed".into()),
            body: "Spoke to Amy's mum by phone.".into(),
            corrects: None,
            reason: None,
        };
        let first = store
            .add_incident_entry(school, id, &note, &reader, NOW + 100)
            .await
            .expect("entry");
        // Written later about something earlier: sorts before it, showing both dates.
        let backdated = NewEntry {
            happened_at: NOW + 50,
            kind: "note".into(),
            action: None,
            body: "Amy told her form tutor at break.".into(),
            corrects: None,
            reason: None,
        };
        store
            .add_incident_entry(school, id, &backdated, &reader, NOW + 200)
            .await
            .expect("backdated");
        let no_reason = NewEntry {
            kind: "correction".into(),
            corrects: Some(first),
            ..backdated.clone()
        };
        assert!(
            store
                .add_incident_entry(school, id, &no_reason, &reader, NOW + 300)
                .await
                .is_err()
        );
        let correction = NewEntry {
            kind: "correction".into(),
            corrects: Some(first),
            reason: Some("It was her dad, not her mum.".into()),
            body: "Spoke to Amy's dad by phone.".into(),
            happened_at: NOW + 100,
            action: None,
        };
        store
            .add_incident_entry(school, id, &correction, &reader, NOW + 300)
            .await
            .expect("correction");
        let entries = store.incident_entries(id).await.expect("entries");
        let bodies: Vec<&str> = entries.iter().map(|e| e.body.as_str()).collect();
        assert_eq!(
            bodies,
            [
                "Recorded",
                "Amy told her form tutor at break.",
                "Spoke to Amy's mum by phone.",
                "Spoke to Amy's dad by phone."
            ],
            "{label}"
        );
        assert_eq!((entries[1].written_at, entries[1].happened_at), (NOW + 200, NOW + 50));

        // Append-only below the application too.
        for sql in [
            "UPDATE incident_entries SET body = 'nothing happened'",
            "DELETE FROM incident_entries",
        ] {
            assert!(store.execute_raw(sql).await.is_err(), "{label}: {sql} must fail");
        }

        // Status: in progress after the first entry; closing needs an outcome; reopening.
        assert!(
            store
                .set_incident_status(school, id, Status::Closed, None, &reader, NOW + 400)
                .await
                .is_err()
        );
        store
            .set_incident_status(
                school,
                id,
                Status::Closed,
                Some("Reported to CEOP; Amy supported."),
                &reader,
                NOW + 400,
            )
            .await
            .expect("close");
        assert!(
            store
                .set_incident_status(school, id, Status::InProgress, None, &reader, NOW + 500)
                .await
                .is_err(),
            "{label}: closed goes back to open, not in progress"
        );
        store
            .set_incident_status(school, id, Status::Open, None, &reader, NOW + 500)
            .await
            .expect("reopen");
        let last = store.incident_entries(id).await.expect("entries");
        assert_eq!(last.last().map(|e| e.body.as_str()), Some("Reopened"));

        // Retention: a record about a pupil (Amy, no birth date here) is reviewed after six
        // years; past review it is listed for a decision and can be kept, with a reason.
        let far = NOW + 7 * 366 * 86_400;
        assert_eq!(
            store.incidents_past_review(school, far).await.expect("past"),
            [id],
            "{label}"
        );
        assert!(store.extend_review(school, id, 2, " ", &reader, far).await.is_err());
        store
            .extend_review(school, id, 2, "Police investigation still open", &reader, far)
            .await
            .expect("keep");
        assert!(store.incidents_past_review(school, far).await.expect("past").is_empty());

        let audit = store.recent_audit(school, 50).await.expect("audit");
        assert_eq!(
            audit.iter().filter(|e| e.action == "incident.view").count(),
            2,
            "{label}"
        );
        assert!(
            audit
                .iter()
                .filter(|e| e.action.starts_with("incident."))
                .all(|e| !e.details.contains("Amy")),
            "{label}: no names in the incident log's audit entries"
        );
        assert!(store.verify_audit(school).await.expect("verify").is_ok());
    })
    .await;
}
