//! The registers on SQLite and PostgreSQL: agreements and the internet gate, consent,
//! assets and disposal, reviews, and the due list from a seeded school with fixed dates.

use policy::{LocalTime, Request, Verdict};
use register::agreements::{Audience, Method, Standing, YearStart};
use register::assets::{Disposal, DisposalMethod, Hardware, HardwareKind};
use register::consent::{Answer, Purpose, State};
use register::people::{PersonKind, SchoolId};
use register::reviews::{ReviewKind, Signer};
use register::roles::Role;
use register::training::Kind;
use store::{ReviewText, Store, StoreError};
use time::Date;
use time::macros::date;

use super::{NOW, actor, each_database, pupil};

/// The Unix time of noon on `day`.
fn at(day: Date) -> i64 {
    day.midnight().assume_utc().unix_timestamp() + 12 * 3600
}

fn staff(id: &str, given: &str, roles: Vec<Role>) -> store::NewPerson {
    let mut s = pupil(id, given, "Staff", 0);
    s.kind = PersonKind::Staff;
    s.year = None;
    s.roles = roles;
    s
}

fn decide(snapshot: &policy::Snapshot, group: &str, host: &str) -> Verdict {
    let group = snapshot.group(group).unwrap_or_else(|| panic!("group {group}"));
    snapshot
        .decide(&Request {
            host,
            path: None,
            group,
            at: LocalTime::new(1, 10, 0),
        })
        .verdict
}

async fn gate_group(store: &Store, school: SchoolId, person: register::people::PersonId, today: Date) -> String {
    let p = store.person(school, person).await.expect("person");
    let gated = store
        .agreement_gates(school)
        .await
        .expect("gates")
        .iter()
        .any(|g| Some(g.as_str()) == p.group_name.as_deref());
    let current = store
        .agreement_current(school, person, today, YearStart::default())
        .await
        .expect("current");
    policy::gate::group_for(p.group_name.as_deref().unwrap_or("unidentified"), gated, current).to_owned()
}

#[tokio::test]
async fn an_unsigned_pupil_is_held_back_by_the_gate_until_they_sign_and_again_when_a_new_version_asks() {
    // DFE-CS-01: network access is gated on the current agreement; a new version asks again.
    each_database("agreement_gate", |store, label| async move {
        let school = store.create_school("Demo", NOW).await.expect("school");
        store.ensure_default_policies(school, NOW).await.expect("policies");
        let today = date!(2026 - 09 - 21);
        assert_eq!(
            store
                .ensure_default_agreements(school, date!(2026 - 09 - 01), NOW)
                .await
                .expect("defaults"),
            7
        );
        assert_eq!(
            store
                .ensure_default_agreements(school, today, NOW)
                .await
                .expect("again"),
            0
        );
        let amy = store
            .insert_person(school, &pupil("P1", "Amy", "Ames", 5), &actor(), NOW)
            .await
            .expect("amy");
        let (snapshot, _) = store.build_snapshot(school, 7, false).await.expect("snapshot");

        // Without a gate, KS2 reaches the web whether or not Amy has signed.
        assert_eq!(gate_group(&store, school, amy, today).await, "KS2", "{label}");
        store
            .set_agreement_gate(school, "KS2", true, &actor(), NOW)
            .await
            .expect("gate on");
        let group = gate_group(&store, school, amy, today).await;
        assert_eq!(group, policy::gate::UNSIGNED, "{label}");
        assert_eq!(decide(&snapshot, &group, "scratch.mit.edu"), Verdict::Block, "{label}");
        assert_eq!(decide(&snapshot, &group, "www.bbc.co.uk"), Verdict::Allow, "{label}");

        // A parent signs on Amy's behalf: she is let through, to what KS2 may reach.
        let v = store
            .sign_agreement(school, amy, today, Method::ParentOrCarer, "Mrs Ames", &actor(), NOW)
            .await
            .expect("sign");
        assert_eq!(v, 1);
        let group = gate_group(&store, school, amy, today).await;
        assert_eq!(group, "KS2", "{label}");
        assert_eq!(decide(&snapshot, &group, "scratch.mit.edu"), Verdict::Allow, "{label}");

        // A new version that asks everyone again holds her back from the day it is published.
        let v2 = store
            .publish_agreement(
                school,
                Audience::Ks2,
                "New text, with filtering and monitoring.",
                date!(2026 - 10 - 01),
                true,
                &actor(),
                NOW,
            )
            .await
            .expect("publish");
        assert_eq!(v2, 2);
        assert_eq!(gate_group(&store, school, amy, date!(2026 - 09 - 30)).await, "KS2");
        let standings = store
            .agreement_standings(school, date!(2026 - 10 - 01), YearStart::default())
            .await
            .expect("standings");
        let amy_standing = standings.iter().find(|s| s.person.id == amy).expect("amy listed");
        assert_eq!(amy_standing.standing, Standing::NewVersion);
        assert!(amy_standing.gated);
        assert_eq!(
            gate_group(&store, school, amy, date!(2026 - 10 - 01)).await,
            policy::gate::UNSIGNED
        );
        store
            .sign_agreement(school, amy, date!(2026 - 10 - 02), Method::Console, "", &actor(), NOW)
            .await
            .expect("sign v2");
        assert_eq!(gate_group(&store, school, amy, date!(2026 - 10 - 02)).await, "KS2");
        // The academic year turns over: renewal is due, and the gate holds her back again.
        assert_eq!(gate_group(&store, school, amy, date!(2027 - 08 - 31)).await, "KS2");
        assert_eq!(
            gate_group(&store, school, amy, date!(2027 - 09 - 01)).await,
            policy::gate::UNSIGNED
        );

        // A parent cannot sign a member of staff's agreement.
        let tom = store
            .insert_person(school, &staff("S1", "Tom", vec![Role::Teacher]), &actor(), NOW)
            .await
            .expect("tom");
        let refused = store
            .sign_agreement(school, tom, today, Method::ParentOrCarer, "Mum", &actor(), NOW)
            .await;
        assert!(matches!(refused, Err(StoreError::Invalid(_))), "{label}: {refused:?}");
        // The parents' agreement is kept with the pupil, signed by a named parent; it is not
        // what opens the internet to her.
        let parents = Some(Audience::ParentsCarers);
        let nameless = store
            .sign_agreement_for(school, amy, parents, today, Method::Paper, " ", &actor(), NOW)
            .await;
        assert!(matches!(nameless, Err(StoreError::Invalid(_))), "{label}: {nameless:?}");
        let not_a_parent = store
            .sign_agreement_for(school, tom, parents, today, Method::Paper, "Tom", &actor(), NOW)
            .await;
        assert!(matches!(not_a_parent, Err(StoreError::Invalid(_))), "{label}");
        store
            .sign_agreement_for(
                school,
                amy,
                parents,
                date!(2026 - 10 - 02),
                Method::Paper,
                "Mrs Ames",
                &actor(),
                NOW,
            )
            .await
            .expect("parents sign");
        let rows: Vec<_> = store
            .agreement_standings(school, date!(2026 - 10 - 02), YearStart::default())
            .await
            .expect("standings")
            .into_iter()
            .filter(|s| s.person.id == amy)
            .map(|s| (s.audience, s.standing, s.gated))
            .collect();
        assert_eq!(
            rows,
            [
                (Audience::Ks2, Standing::Current, true),
                (Audience::ParentsCarers, Standing::Current, false)
            ],
            "{label}"
        );
        let signatures = store.signatures_of(school, amy).await.expect("history");
        assert_eq!(signatures.len(), 3);
        assert_eq!(signatures[2].method, Method::ParentOrCarer);
        assert_eq!(signatures[2].signed_by, "Mrs Ames");
        store
            .verify_audit(school)
            .await
            .expect("audit reads")
            .expect("audit chain holds");
    })
    .await;
}

#[tokio::test]
async fn consent_is_withdrawn_at_once_and_imports_and_exports_whole() {
    each_database("consent", |store, label| async move {
        let school = store.create_school("Demo", NOW).await.expect("school");
        let amy = store.insert_person(school, &pupil("A123", "Amy", "Ames", 5), &actor(), NOW).await.expect("amy");
        let ben = store.insert_person(school, &pupil("B456", "Ben", "Birch", 5), &actor(), NOW).await.expect("ben");
        let start = YearStart::default();
        let file = "UPN,Date,Parent,School website,Social media\nA123,05/09/2026,Mrs Ames,yes,yes\nB456,2026-09-06,Mr Birch,no,\n";
        let answers = register::consent::parse_consents("consent.csv", file.as_bytes()).expect("file reads");
        let n = store.import_consents(school, "consent.csv", &answers, &actor(), NOW).await.expect("import").expect("all found");
        assert_eq!(n, 3, "{label}");

        let state = |answers: &std::collections::HashMap<register::people::PersonId, Vec<store::ConsentAnswer>>, who, purpose, day| {
            let history: Vec<_> = answers.get(&who).map(|a| a.iter().map(store::ConsentAnswer::recorded).collect()).unwrap_or_default();
            register::consent::state(&history, purpose, day, start)
        };
        let all = store.consent_answers(school).await.expect("answers");
        assert_eq!(state(&all, amy, Purpose::SocialMedia, date!(2026 - 10 - 01)), State::Given);
        assert_eq!(state(&all, ben, Purpose::Website, date!(2026 - 10 - 01)), State::Refused);
        assert_eq!(state(&all, ben, Purpose::SocialMedia, date!(2026 - 10 - 01)), State::Missing);

        // Amy's mother withdraws social media consent: from that moment it is withdrawn.
        store
            .record_consent(school, amy, Purpose::SocialMedia, Answer::Withdrawn, date!(2026 - 10 - 01), "Mrs Ames", &actor(), NOW + 10)
            .await
            .expect("withdraw");
        let all = store.consent_answers(school).await.expect("answers");
        assert_eq!(state(&all, amy, Purpose::SocialMedia, date!(2026 - 10 - 01)), State::Withdrawn, "{label}");
        assert_eq!(state(&all, amy, Purpose::Website, date!(2026 - 10 - 01)), State::Given);

        // The export reads back as the same answers.
        let export = register::consent::consents_csv(&store.consent_export(school).await.expect("export"));
        let again = register::consent::parse_consents("export.csv", export.as_bytes()).expect("export reads");
        assert_eq!(again.len(), 4);
        assert!(export.contains("A123,Amy Ames,social_media,withdrawn,2026-10-01,Mrs Ames"), "{export}");

        // A file naming a pupil the school does not have changes nothing, and says which line.
        let bad = "Pupil,Purpose,Answer,Date\nA123,video,given,2026-09-05\nZ999,video,given,2026-09-05\n";
        let answers = register::consent::parse_consents("bad.csv", bad.as_bytes()).expect("reads");
        let errors = store.import_consents(school, "bad.csv", &answers, &actor(), NOW).await.expect("import").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 3);
        assert_eq!(store.consent_export(school).await.expect("export").len(), 4, "{label}: nothing imported");
        // Consent is for pupils.
        let tom = store.insert_person(school, &staff("S1", "Tom", vec![]), &actor(), NOW).await.expect("tom");
        let refused = store
            .record_consent(school, tom, Purpose::Video, Answer::Given, date!(2026 - 10 - 01), "", &actor(), NOW)
            .await;
        assert!(matches!(refused, Err(StoreError::Invalid(_))));
    })
    .await;
}

fn laptop(tag: &str) -> Hardware {
    Hardware {
        tag: tag.into(),
        kind: HardwareKind::Laptop,
        make: "Lenovo".into(),
        model: "ThinkPad".into(),
        serial: format!("SN-{tag}"),
        location: "Office".into(),
        encrypted: true,
        antimalware_current: true,
        purchased_on: Some(date!(2022 - 09 - 01)),
        end_of_support: Some(date!(2026 - 10 - 14)),
        address: None,
        group: None,
    }
}

#[tokio::test]
async fn a_device_is_disposed_of_only_with_a_full_record_and_never_while_on_loan() {
    // DFE-DL-01: the asset register holds the date and method of secure disposal.
    each_database("disposal", |store, label| async move {
        let school = store.create_school("Demo", NOW).await.expect("school");
        let tom = store.insert_person(school, &staff("T001", "Tom", vec![Role::Teacher]), &actor(), NOW).await.expect("tom");
        let id = store.save_hardware(school, &laptop("SG-001"), &actor(), NOW).await.expect("save");
        store.lend_hardware(school, id, tom, date!(2026 - 09 - 01), None, &actor(), NOW).await.expect("lend");
        let again = store.lend_hardware(school, id, tom, date!(2026 - 09 - 02), None, &actor(), NOW).await;
        assert!(matches!(again, Err(StoreError::Invalid(_))), "{label}: lent twice");
        let good = Disposal {
            on: date!(2026 - 09 - 20),
            method: DisposalMethod::WipedAndRecycled,
            collected_by: "Northern IT Recycling".into(),
            certificate: "COD-1142".into(),
            weee_receipt: "WEEE-88".into(),
        };
        let on_loan = store.dispose_hardware(school, id, &good, &actor(), NOW).await;
        assert!(matches!(&on_loan, Err(StoreError::Invalid(m)) if m.contains("on loan")), "{label}: {on_loan:?}");
        // Tom leaves with it: the leaver checklist names him.
        store.import_people(school, "x.csv", &register::import::parse("x.csv", "Forename,Surname,Staff code\nOther,Person,T999\n".as_bytes()).expect("csv"), &actor(), NOW, true).await.expect("import");
        let checklist = store.leaver_checklist(school).await.expect("checklist");
        assert_eq!(checklist.len(), 1, "{label}");
        assert_eq!(checklist[0].1.hardware.tag, "SG-001");
        store.return_hardware(school, id, date!(2026 - 09 - 19), &actor(), NOW).await.expect("return");
        assert!(store.leaver_checklist(school).await.expect("checklist").is_empty());

        let no_certificate = Disposal { certificate: String::new(), ..good.clone() };
        let refused = store.dispose_hardware(school, id, &no_certificate, &actor(), NOW).await;
        assert!(matches!(&refused, Err(StoreError::Invalid(m)) if m.contains("certificate")), "{label}: {refused:?}");
        assert!(store.hardware_item(school, id).await.expect("item").disposal.is_none());
        store.dispose_hardware(school, id, &good, &actor(), NOW).await.expect("dispose");
        let item = store.hardware_item(school, id).await.expect("item");
        assert_eq!(item.disposal, Some(good.clone()));
        assert!(matches!(store.dispose_hardware(school, id, &good, &actor(), NOW).await, Err(StoreError::Invalid(_))));
        assert!(matches!(
            store.lend_hardware(school, id, tom, date!(2026 - 09 - 21), None, &actor(), NOW).await,
            Err(StoreError::Invalid(_))
        ));

        // Import and export: the export reads back; a disposed tag in a file is refused by line.
        let file = "Asset tag,Kind,Make,Model,Serial,IP address,Group\nSG-002,Chromebook,Acer,C733,NX1,10.0.5.21,KS2\nSG-003,Desktop,Dell,3080,DL9,,\n";
        let rows = register::assets::parse_hardware("assets.csv", file.as_bytes()).expect("reads");
        let (added, updated) = store.import_hardware(school, "assets.csv", &rows, &actor(), NOW).await.expect("import").expect("good");
        assert_eq!((added, updated), (2, 0), "{label}");
        let devices = store.devices_with_address(school, date!(2026 - 09 - 21), YearStart::default()).await.expect("devices");
        assert_eq!(devices.get(&"10.0.5.21".parse().expect("ip")), Some(&("SG-002".to_owned(), "KS2".to_owned())));
        // The DNS server attributes what the address asks to the device: it was last seen then.
        let asked = events::FilterEvent {
            at_ms: NOW * 1000 + 2_500,
            source: "dns",
            client: "10.0.5.21".parse().expect("ip"),
            device: Some("SG-002".into()),
            group: "KS2".into(),
            name: "www.bbc.co.uk".into(),
            kind: "A".into(),
            verdict: "allow",
            ..Default::default()
        };
        store.insert_events(school, &[asked]).await.expect("event");
        assert_eq!(store.mark_devices_seen(school, NOW * 1000).await.expect("seen"), 1, "{label}");
        assert_eq!(store.mark_devices_seen(school, NOW * 1000).await.expect("seen again"), 0, "not moved back or twice");
        let sg2 = store.hardware(school).await.expect("all").into_iter().find(|h| h.hardware.tag == "SG-002").expect("SG-002");
        assert_eq!(sg2.last_seen, Some(NOW + 2), "{label}");
        let export = register::assets::hardware_csv(&store.hardware_export(school).await.expect("export"));
        assert!(export.contains("SG-001,laptop,Lenovo,ThinkPad,SN-SG-001,Office,yes,yes,2022-09-01,2026-10-14,,,,2026-09-20"), "{export}");
        let back = "Asset tag,Kind\nSG-001,laptop\nSG-004,printer\n";
        let rows = register::assets::parse_hardware("back.csv", back.as_bytes()).expect("reads");
        let errors = store.import_hardware(school, "back.csv", &rows, &actor(), NOW).await.expect("import").unwrap_err();
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [2], "{label}");
        assert_eq!(store.hardware(school).await.expect("all").len(), 3, "nothing from the refused file");
        store.verify_audit(school).await.expect("audit reads").expect("audit chain holds");
    })
    .await;
}

#[tokio::test]
async fn a_review_is_complete_only_when_the_head_and_the_safeguarding_governor_have_signed() {
    // DFE-FM-2.02/2.03: results recorded, signed off by the head and the governor.
    each_database("reviews", |store, label| async move {
        let school = store.create_school("Demo", NOW).await.expect("school");
        let head = store
            .insert_person(school, &staff("H1", "Helen", vec![Role::Headteacher]), &actor(), NOW)
            .await
            .expect("head");
        let mut g = staff("G1", "Gina", vec![Role::SafeguardingGovernor]);
        g.kind = PersonKind::Governor;
        let governor = store.insert_person(school, &g, &actor(), NOW).await.expect("governor");
        let id = store
            .open_review(
                school,
                ReviewKind::FilteringMonitoring,
                date!(2026 - 09 - 15),
                &actor(),
                NOW,
            )
            .await
            .expect("open");
        let unsigned = store
            .sign_review(school, id, Signer::Headteacher, head, &actor(), NOW)
            .await;
        assert!(
            matches!(&unsigned, Err(StoreError::Invalid(m)) if m.contains("findings")),
            "{label}"
        );
        let text = ReviewText {
            responsible: "Helen (head), Dee (DSL), Ian (IT)".into(),
            findings: "Filtering blocks the expected categories for every group.".into(),
            actions: "Add the new tablets to the device register (Ian, by October).".into(),
            checked: vec![0, 1, 2],
            evidence: "Filter test results, 14 September".into(),
        };
        store
            .update_review(school, id, &text, &actor(), NOW)
            .await
            .expect("update");
        let wrong = store
            .sign_review(school, id, Signer::SafeguardingGovernor, head, &actor(), NOW)
            .await;
        assert!(
            matches!(wrong, Err(StoreError::Invalid(_))),
            "{label}: the head signed as governor"
        );
        assert!(
            !store
                .sign_review(school, id, Signer::Headteacher, head, &actor(), NOW)
                .await
                .expect("head signs")
        );
        assert!(matches!(
            store
                .sign_review(school, id, Signer::Headteacher, head, &actor(), NOW)
                .await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.update_review(school, id, &text, &actor(), NOW).await,
            Err(StoreError::Invalid(_))
        ));
        assert!(
            store
                .sign_review(
                    school,
                    id,
                    Signer::SafeguardingGovernor,
                    governor,
                    &actor(),
                    at(date!(2026 - 09 - 30))
                )
                .await
                .expect("governor signs")
        );
        let review = store.reviews(school).await.expect("reviews").remove(0);
        assert_eq!(review.completed_on, Some(date!(2026 - 09 - 30)), "{label}");
        assert_eq!(review.checked, [0, 1, 2]);
        assert_eq!(review.signoffs.len(), 2);
        let due = store
            .reviews_due(school, date!(2026 - 10 - 01), YearStart::default())
            .await
            .expect("due");
        assert!(due.contains(&(ReviewKind::FilteringMonitoring, date!(2027 - 09 - 30))));
        assert!(due.contains(&(ReviewKind::PreventRiskAssessment, date!(2026 - 09 - 01))));
    })
    .await;
}

#[tokio::test]
async fn the_due_list_of_a_seeded_school_on_a_fixed_day() {
    each_database("due_list", |store, label| async move {
        let school = store
            .create_school("Demo", at(date!(2026 - 06 - 01)))
            .await
            .expect("school");
        let joined = at(date!(2026 - 06 - 01));
        store
            .ensure_default_agreements(school, date!(2026 - 06 - 01), joined)
            .await
            .expect("agreements");
        let mut a = pupil("A1", "Amy", "Ames", 5);
        a.class = Some("5K".into());
        let amy = store.insert_person(school, &a, &actor(), joined).await.expect("amy");
        let mut b = pupil("B1", "Ben", "Birch", 5);
        b.class = Some("5K".into());
        let ben = store.insert_person(school, &b, &actor(), joined).await.expect("ben");
        let dee = store
            .insert_person(school, &staff("S1", "Dee", vec![Role::Dsl]), &actor(), joined)
            .await
            .expect("dee");
        // Amy has signed and has every consent; Ben has neither. Dee signed; her DSL
        // training runs out in December, everything else she has done.
        let today = date!(2026 - 11 - 24);
        store
            .sign_agreement(school, amy, date!(2026 - 09 - 10), Method::Paper, "", &actor(), joined)
            .await
            .expect("amy signs");
        store
            .sign_agreement(
                school,
                dee,
                date!(2026 - 09 - 02),
                Method::Console,
                "",
                &actor(),
                joined,
            )
            .await
            .expect("dee signs");
        for p in Purpose::ALL {
            store
                .record_consent(
                    school,
                    amy,
                    p,
                    Answer::Given,
                    date!(2026 - 09 - 10),
                    "Mrs Ames",
                    &actor(),
                    joined,
                )
                .await
                .expect("consent");
        }
        for (kind, on) in [
            (Kind::Induction, date!(2026 - 06 - 10)),
            (Kind::AnnualUpdate, date!(2026 - 09 - 05)),
            (Kind::Dsl, date!(2024 - 12 - 10)),
            (Kind::Prevent, date!(2025 - 09 - 05)),
            (Kind::Cyber, date!(2026 - 09 - 05)),
        ] {
            store
                .record_training(school, dee, kind, on, "LA", "certificate", &actor(), joined)
                .await
                .expect("training");
        }
        for kind in ReviewKind::ALL {
            let id = store
                .open_review(school, kind, date!(2026 - 06 - 01), &actor(), joined)
                .await
                .expect("open");
            store
                .update_review(
                    school,
                    id,
                    &ReviewText {
                        findings: "Done.".into(),
                        ..ReviewText::default()
                    },
                    &actor(),
                    joined,
                )
                .await
                .expect("findings");
        }
        store
            .add_software(
                school,
                "Office 365 A1",
                "EDU-1",
                400,
                Some(date!(2026 - 12 - 01)),
                &actor(),
                joined,
            )
            .await
            .expect("software");
        store
            .add_software(
                school,
                "Purple Mash",
                "PM-9",
                200,
                Some(date!(2027 - 07 - 31)),
                &actor(),
                joined,
            )
            .await
            .expect("software");
        let id = store
            .save_hardware(school, &laptop("SG-014"), &actor(), joined)
            .await
            .expect("laptop");
        store
            .lend_hardware(
                school,
                id,
                dee,
                date!(2026 - 09 - 01),
                Some(date!(2026 - 11 - 20)),
                &actor(),
                joined,
            )
            .await
            .expect("lend");

        let facts = store
            .due_facts(school, today, YearStart::default())
            .await
            .expect("facts");
        let items = register::due::due(&facts, today, YearStart::default());
        let lines: Vec<String> = items.iter().map(|i| format!("{} {}", i.due_on, i.what)).collect();
        assert_eq!(
            lines,
            [
                "2026-09-01 Review: Acceptable use agreements",
                "2026-09-01 Review: Filtering and monitoring provision",
                "2026-09-01 Review: Online safety policy",
                "2026-09-01 Review: Online safety risk assessment",
                "2026-09-01 Review: Prevent risk assessment",
                "2026-09-29 Key Stage 2 pupils: 1 person has not signed for 2026/27",
                "2026-09-29 Parents and carers: not signed for 2 pupils",
                "2026-09-29 5K: photo consent to ask for 1 pupil",
                "2026-10-14 SG-014: operating system support ends",
                "2026-11-20 SG-014: lent to Dee Staff, to be returned",
                "2026-12-01 Licence renewal: Office 365 A1",
                "2026-12-10 Dee Staff: DSL training",
            ],
            "{label}"
        );
        let _ = ben;
    })
    .await;
}
