//! The online safety log in the real binary (issue 7): a teacher records a concern about a
//! pupil; the DSL team is emailed (category and link only), the DSL works it and closes it;
//! the teacher sees only their report's status; the technician cannot read it.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use testkit::smtp::{SinkAuth, SmtpSink};

use crate::filtering::sign_in_enrolled;
use crate::{demo, hidden, not_digests, run};

/// Sessions that outlast a test's waits for email.
const SESSIONS: &str = "[console]\nidle_timeout = \"10m\"\n";

#[tokio::test]
async fn a_teacher_records_a_concern_the_dsl_works_it_and_closes_it() {
    let Some(sink) = SmtpSink::start("incident", SinkAuth::None).await else {
        return;
    };
    let server = demo(Some(&format!(
        "{SESSIONS}\n[mail]\nserver = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"schoolgate@demo-primary.example\"\nretry_secs = 1\n",
        sink.port
    )));
    let teacher = sign_in_enrolled(&server, "mbell").await;
    let form = teacher.get("/incidents/new").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    // A pupil from the form's list of people (as the browser's suggestions offer them).
    let pupil = form
        .body
        .split("<option value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap_or_default().to_owned())
        .find(|p| p.contains("(KS2)"))
        .expect("a KS2 pupil in the list");
    let pupil_name = pupil.split(" (").next().expect("name").to_owned();
    let csrf = hidden(&form.body, "csrf").expect("csrf");
    let empty = teacher
        .post(
            "/incidents/new",
            &[("csrf", &csrf), ("category", "grooming"), ("what", " ")],
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.body.contains("Say what happened"), "{}", empty.body);
    let r = teacher
        .post(
            "/incidents/new",
            &[
                ("csrf", &csrf),
                ("category", "grooming"),
                ("what", "Says an older boy online keeps asking for photos and to meet."),
                ("person1", &pupil),
                ("part1", "affected"),
                ("place", "outside"),
                ("device", "Snapchat"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let location = r.location.expect("where to");
    let id = location.rsplit('=').next().expect("id").to_owned();
    let mine = teacher.get(&location).await;
    assert!(mine.body.contains("Your concern was recorded"), "{}", mine.body);
    assert!(mine.body.contains("Grooming or contact by an adult"));
    // The reporter sees their report's status, not the record.
    assert_eq!(
        teacher.get(&format!("/incidents/{id}")).await.status,
        StatusCode::FORBIDDEN
    );

    // The DSL, the deputy and the online safety lead are told: the category and a link.
    let deadline = Instant::now() + Duration::from_secs(30);
    let got = loop {
        let got = not_digests(sink.messages());
        if got.len() >= 3 {
            break got;
        }
        assert!(Instant::now() < deadline, "emails: {}", got.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut to: Vec<&str> = got.iter().flat_map(|m| m.rcpt_tos.iter().map(String::as_str)).collect();
    to.sort_unstable();
    assert_eq!(
        to,
        [
            "dokoro@demo-primary.example",
            "praman@demo-primary.example",
            "tfairweather@demo-primary.example"
        ]
    );
    for m in &got {
        let body = m.data.replace("=\r\n", "");
        assert!(body.contains(&format!("/incidents/{id}")), "{body}");
        assert!(body.contains("Grooming or contact by an adult"), "{body}");
        for secret in [pupil_name.as_str(), "older boy", "Snapchat"] {
            assert!(!body.contains(secret), "the email must not carry {secret:?}");
        }
    }

    // The DSL sees it, with what must happen next, adds an action and closes it.
    let dsl = sign_in_enrolled(&server, "dokoro").await;
    let list = dsl.get("/incidents").await;
    assert!(list.body.contains(&format!("/incidents/{id}\"")), "{}", list.body);
    let page = dsl.get(&format!("/incidents/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("older boy online"), "{}", page.body);
    assert!(page.body.contains(&pupil_name), "{}", page.body);
    assert!(
        page.body.contains("CEOP"),
        "grooming says what to do next: {}",
        page.body
    );
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let r = dsl
        .post(
            &format!("/incidents/{id}"),
            &[
                ("csrf", &csrf),
                ("op", "add"),
                ("kind", "action"),
                ("action", "parents_informed"),
                ("body", "Phoned mum; she will check the phone with her tonight."),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // A follow-up date that has passed shows on the DSL's dashboard.
    let r = dsl
        .post(
            &format!("/incidents/{id}"),
            &[("csrf", &csrf), ("op", "follow_up"), ("follow_up_on", "2026-01-05")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let dash = dsl.get("/dashboard").await;
    assert!(dash.body.contains("Follow-ups overdue"), "{}", dash.body);
    assert!(
        dash.body
            .contains(&format!("/incidents/{id}\">record {id}</a> (due 2026-01-05)")),
        "{}",
        dash.body
    );

    // Attachments: a screenshot is taken, HTML and oversized files are not, and a file is
    // only ever downloaded, never shown as a page.
    let upload = |name: &'static str, bytes: Vec<u8>, with_csrf: bool| {
        let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name(name));
        let q = if with_csrf {
            format!("?csrf={csrf}")
        } else {
            String::new()
        };
        dsl.http
            .post(format!("{}/incidents/{id}/attachments{q}", server.url))
            .multipart(form)
            .send()
    };
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let r = upload("screenshot.png", png.clone(), false).await.expect("upload");
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token, no upload");
    let r = upload("screenshot.png", png.clone(), true).await.expect("upload");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = upload("page.html", b"<html><script>alert(1)</script></html>".to_vec(), true)
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.expect("body").contains("Attach a picture"));
    let r = upload(
        "big.pdf",
        [b"%PDF-".as_slice(), &vec![b'x'; 10 * 1024 * 1024]].concat(),
        true,
    )
    .await
    .expect("upload");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.expect("body").contains("over 10 MiB"));
    let page = dsl.get(&format!("/incidents/{id}")).await;
    let link = page
        .body
        .split("href=\"/incidents/")
        .find(|s| s.contains("/attachments/"))
        .and_then(|s| s.split('"').next())
        .map(|s| format!("/incidents/{s}"))
        .expect("the attachment is listed");
    let r = dsl
        .http
        .get(format!("{}{link}", server.url))
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("attachment;")
    );
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .expect("ascii")
            .contains("sandbox")
    );
    assert_eq!(r.bytes().await.expect("bytes").to_vec(), png);
    assert_eq!(teacher.get(&link).await.status, StatusCode::FORBIDDEN);

    let r = dsl
        .post(
            &format!("/incidents/{id}"),
            &[("csrf", &csrf), ("op", "close"), ("outcome", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "closing needs an outcome");
    let r = dsl
        .post(
            &format!("/incidents/{id}"),
            &[
                ("csrf", &csrf),
                ("op", "close"),
                ("outcome", "Reported to CEOP; support in place."),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = dsl.get(&format!("/incidents/{id}")).await;
    assert!(page.body.contains("Parents or carers informed"), "{}", page.body);
    assert!(page.body.contains("Who has looked at this record"), "{}", page.body);
    assert!(
        page.body.contains("dokoro"),
        "the DSL's own views are listed: {}",
        page.body
    );
    assert!(page.body.contains("Closed: Reported to CEOP"), "{}", page.body);
    let mine = teacher.get("/incidents").await;
    assert!(mine.body.contains("<td>Closed</td>"), "{}", mine.body);

    // The pupil's page shows the record; the DSL flags the pupil as monitored.
    let record = page
        .body
        .split("href=\"/people/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(|s| format!("/people/{s}"))
        .expect("a link to the pupil's record");
    let pupil_page = dsl.get(&record).await;
    assert_eq!(pupil_page.status, StatusCode::OK, "{}", pupil_page.body);
    assert!(
        pupil_page.body.contains(&format!("Incident {id}")),
        "{}",
        pupil_page.body
    );
    let person = record.trim_end_matches("/record").to_owned();
    let r = dsl
        .post(
            &format!("{person}/monitored"),
            &[
                ("csrf", &csrf),
                ("reason", "Contact from an adult online"),
                ("review_on", "2027-01-15"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(dsl.get(&record).await.body.contains("Monitored"));
    // The file for a new school: one print-ready HTML document, downloaded.
    let export = dsl
        .http
        .get(format!("{}{record}/export", server.url))
        .send()
        .await
        .expect("export");
    assert_eq!(export.status(), StatusCode::OK);
    assert!(
        export.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("attachment;")
    );
    let file = export.text().await.expect("file");
    assert!(file.contains("CONFIDENTIAL"), "{file}");
    assert!(file.contains(&format!("Incident {id}")), "{file}");
    assert!(file.contains("Parents or carers informed"), "{file}");
    assert_eq!(
        teacher.get(&format!("{record}/export")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(teacher.get(&record).await.status, StatusCode::FORBIDDEN);

    // Sealed to the headteacher (and the DSL who seals it): the deputy no longer sees it.
    let deputy = sign_in_enrolled(&server, "praman").await;
    assert_eq!(deputy.get(&format!("/incidents/{id}")).await.status, StatusCode::OK);
    let head_box = page
        .body
        .split("name=\"person_")
        .skip(1)
        .find(|s| s.split("</label>").next().unwrap_or_default().contains("Headteacher"))
        .and_then(|s| s.split('"').next())
        .map(|s| format!("person_{s}"))
        .expect("the headteacher can be named");
    let r = dsl
        .post(&format!("/incidents/{id}/seal"), &[("csrf", &csrf), (&head_box, "1")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        deputy.get(&format!("/incidents/{id}")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(dsl.get(&format!("/incidents/{id}")).await.status, StatusCode::OK);

    // The technician manages accounts but never reads safeguarding records.
    let tech = sign_in_enrolled(&server, "gpryce").await;
    assert_eq!(
        tech.get(&format!("/incidents/{id}")).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(
        !tech
            .get("/incidents")
            .await
            .body
            .contains(&format!("/incidents/{id}\""))
    );

    let (code, out, _) = run(&["audit", "verify"], server.data_dir());
    assert_eq!(code, 0, "{out}");
    sink.stop().await;
}

#[tokio::test]
async fn a_record_nobody_opens_goes_on_to_the_headteacher() {
    let Some(sink) = SmtpSink::start("incident_escalation", SinkAuth::None).await else {
        return;
    };
    let server = demo(Some(&format!(
        "{SESSIONS}\n[incidents]\nescalate_after = \"10s\"\n\n[mail]\nserver = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"schoolgate@demo-primary.example\"\nretry_secs = 1\n",
        sink.port
    )));
    let teacher = sign_in_enrolled(&server, "mbell").await;
    let csrf = teacher.csrf("/incidents/new").await;
    let r = teacher
        .post(
            "/incidents/new",
            &[
                ("csrf", &csrf),
                ("category", "online_bullying"),
                ("what", "Unkind messages in a class group chat."),
                ("place", "outside"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // Nobody on the DSL team opens it: after ten seconds it goes to the headteacher.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let got = not_digests(sink.messages());
        if let Some(m) = got.iter().find(|m| m.rcpt_tos == ["hmarsh@demo-primary.example"]) {
            let body = m.data.replace("=\r\n", "");
            assert!(
                body.contains("nobody on the first part of its route has opened it yet"),
                "{body}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no escalation: {} emails", got.len());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    sink.stop().await;
}

#[tokio::test]
async fn a_data_breach_starts_the_72_hour_ico_clock_on_the_headteachers_dashboard() {
    let server = demo(Some(SESSIONS));
    let tech = sign_in_enrolled(&server, "gpryce").await;
    let csrf = tech.csrf("/incidents/new").await;
    let r = tech
        .post(
            "/incidents/new",
            &[
                ("csrf", &csrf),
                ("category", "data_breach"),
                ("what", "An unencrypted USB stick with a class list was lost on a trip."),
                ("place", "outside"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id = r.location.expect("where").rsplit('=').next().expect("id").to_owned();
    let head = sign_in_enrolled(&server, "hmarsh").await;
    let dash = head.get("/dashboard").await;
    assert!(dash.body.contains("Information Commissioner"), "{}", dash.body);
    assert!(dash.body.contains(&format!("/incidents/{id}")), "{}", dash.body);
    let page = head.get(&format!("/incidents/{id}")).await;
    assert!(page.body.contains("72 hours"), "{}", page.body);
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let r = head
        .post(
            &format!("/incidents/{id}"),
            &[("csrf", &csrf), ("op", "ico"), ("report", "no"), ("reason", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "a reason is needed");
    let r = head
        .post(
            &format!("/incidents/{id}"),
            &[
                ("csrf", &csrf),
                ("op", "ico"),
                ("report", "no"),
                ("reason", "Names only, no sensitive data; low risk to the children."),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = head.get(&format!("/incidents/{id}")).await;
    assert!(page.body.contains("not reported to the ICO"), "{}", page.body);
    assert!(!head.get("/dashboard").await.body.contains("Information Commissioner"));
}

#[tokio::test]
async fn the_governors_report_counts_incidents_without_names_and_exports_csv() {
    let server = demo(Some(SESSIONS));
    let teacher = sign_in_enrolled(&server, "mbell").await;
    let form = teacher.get("/incidents/new").await;
    let pupil = form
        .body
        .split("<option value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap_or_default().to_owned())
        .find(|p| p.contains("(KS1)"))
        .expect("a KS1 pupil");
    let name = pupil.split(" (").next().expect("name").to_owned();
    let csrf = hidden(&form.body, "csrf").expect("csrf");
    for category in ["online_bullying", "online_bullying", "harmful_content"] {
        let r = teacher
            .post(
                "/incidents/new",
                &[
                    ("csrf", &csrf),
                    ("category", category),
                    ("what", "Seen on a tablet in class."),
                    ("person1", &pupil),
                    ("part1", "affected"),
                    ("place", "in_school"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
    assert_eq!(teacher.get("/incidents/report").await.status, StatusCode::FORBIDDEN);
    let head = sign_in_enrolled(&server, "hmarsh").await;
    let report = head.get("/incidents/report").await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert!(report.body.contains("3 incidents recorded"), "{}", report.body);
    assert!(report.body.contains("Online bullying"), "{}", report.body);
    assert!(report.body.contains("KS1"), "{}", report.body);
    assert!(!report.body.contains(&name), "no names in the report");
    let csv = head.get("/incidents/report.csv").await;
    assert!(csv.body.starts_with("section,item,count\n"), "{}", csv.body);
    assert!(csv.body.contains("category,Online bullying,2"), "{}", csv.body);
    assert!(csv.body.contains("group,KS1,3"), "{}", csv.body);
    assert!(!csv.body.contains(&name));
}

#[tokio::test]
async fn a_concern_about_a_member_of_staff_goes_to_the_headteacher_alone_with_the_lado_shown() {
    let server = demo(Some(&format!(
        "{SESSIONS}\n[incidents]\nlado = \"County LADO, 01234 567890\"\nactions = [\"Safety plan agreed\"]\n"
    )));
    let teacher = sign_in_enrolled(&server, "mbell").await;
    let form = teacher.get("/incidents/new").await;
    let staff = form
        .body
        .split("<option value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap_or_default().to_owned())
        .find(|p| p.starts_with("Sophie Lindqvist"))
        .expect("a member of staff in the list");
    let csrf = hidden(&form.body, "csrf").expect("csrf");
    let r = teacher
        .post(
            "/incidents/new",
            &[
                ("csrf", &csrf),
                ("category", "staff_conduct"),
                ("what", "Messaging a pupil on a personal account."),
                ("person1", &staff),
                ("part1", "responsible"),
                ("place", "outside"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id = r.location.expect("where").rsplit('=').next().expect("id").to_owned();
    let dsl = sign_in_enrolled(&server, "dokoro").await;
    assert_eq!(dsl.get(&format!("/incidents/{id}")).await.status, StatusCode::FORBIDDEN);
    let head = sign_in_enrolled(&server, "hmarsh").await;
    let page = head.get(&format!("/incidents/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("County LADO, 01234 567890"), "{}", page.body);
    assert!(
        page.body.contains("<option value=\"Safety plan agreed\">"),
        "{}",
        page.body
    );
}
