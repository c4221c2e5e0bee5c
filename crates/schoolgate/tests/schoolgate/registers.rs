//! The registers in the real binary (issue 8): the agreement gate through the proxy, the
//! registers' pages for each role, and CSV imports and exports over HTTP.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::filtering::sign_in_enrolled;
use crate::proxy::origin;
use crate::{demo, hidden, run};

/// Sessions that outlast the test's waits.
const SESSIONS: &str = "[console]\nidle_timeout = \"10m\"\n";

#[tokio::test]
async fn an_unsigned_member_of_staff_is_held_back_until_they_sign_then_let_through() {
    // DFE-CS-01: access to the network is gated on the current agreement.
    let origin = origin().await;
    let server = demo(Some(&format!(
        "{SESSIONS}\n[proxy.hosts]\n\"intranet.example\" = \"127.0.0.1\"\n"
    )));
    let proxy = server.listening("Proxy:");
    // Gareth, the technician, has not signed this year's agreement in the demo school.
    let osl = sign_in_enrolled(&server, "tfairweather").await;
    let page = osl.get("/registers/agreements?audience=staff").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Gareth Pryce"), "{}", page.body);
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let r = osl
        .post(
            "/registers/agreements/gate",
            &[("csrf", &csrf), ("group", "Staff"), ("on", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    let browser = reqwest::Client::builder()
        .proxy(
            reqwest::Proxy::all(format!("http://{proxy}"))
                .expect("proxy")
                .basic_auth("gpryce", &server.demo_password("gpryce")),
        )
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let url = format!("http://intranet.example:{}/staff-room", origin.port());
    let r = browser.get(&url).send().await.expect("response");
    assert_eq!(r.status(), StatusCode::FOUND, "held back by the Unsigned policy");
    let location = r.headers()["location"].to_str().expect("ascii").to_owned();
    let blocked = reqwest::get(&location)
        .await
        .expect("block page")
        .text()
        .await
        .expect("body");
    assert!(blocked.contains("Sign the agreement to use the internet"), "{blocked}");
    assert!(blocked.contains("/agreement"), "{blocked}");

    // He signs in the console...
    let gareth = sign_in_enrolled(&server, "gpryce").await;
    let mine = gareth.get("/agreement").await;
    assert!(mine.body.contains("filtered"), "the agreement says so: {}", mine.body);
    let csrf = hidden(&mine.body, "csrf").expect("csrf");
    let unticked = gareth.post("/agreement", &[("csrf", &csrf)]).await;
    assert!(unticked.location.as_deref().is_some_and(|l| l.contains("error=")));
    let signed = gareth.post("/agreement", &[("csrf", &csrf), ("agree", "1")]).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert!(gareth.get("/agreement").await.body.contains("You have signed it"));

    // ...and within a minute the proxy lets him through.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = browser.get(&url).send().await.expect("response");
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "still held back: {}", r.status());
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let (code, out, _) = run(&["audit", "verify"], server.data_dir());
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn each_role_reaches_its_registers_and_every_register_exports_and_imports() {
    let server = demo(Some(SESSIONS));

    // The online safety lead sees what is due, on the dashboard and on its own page.
    let osl = sign_in_enrolled(&server, "tfairweather").await;
    let dash = osl.get("/dashboard").await;
    assert!(dash.body.contains("What is due"), "{}", dash.body);
    let due = osl.get("/registers").await;
    assert_eq!(due.status, StatusCode::OK, "{}", due.body);
    for expected in [
        "have not signed for",
        "photo consent to ask for",
        "Review: Filtering and monitoring provision",
    ] {
        assert!(due.body.contains(expected), "{expected}: {}", due.body);
    }
    // A pupil who has not signed, recorded from a paper form.
    let page = osl.get("/registers/agreements?audience=ks2").await;
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let person = page
        .body
        .split("name=\"person\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("an unsigned KS2 pupil")
        .to_owned();
    let before = page.body.matches("name=\"person\"").count();
    let r = osl
        .post(
            "/registers/agreements/sign",
            &[
                ("csrf", &csrf),
                ("person", &person),
                ("method", "paper"),
                ("signed_on", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let after = osl.get("/registers/agreements?audience=ks2").await;
    assert_eq!(after.body.matches("name=\"person\"").count(), before - 1);
    let csv = osl.get("/registers/agreements.csv").await;
    assert!(
        csv.body.starts_with("Name,Identifier,Kind,Class,Audience,Standing"),
        "{}",
        csv.body
    );
    let training = osl.get("/registers/training").await;
    assert!(training.body.contains("DSL training"), "{}", training.body);
    // A certificate is kept with a training record; its holder and the leaders can open it.
    let record = training
        .body
        .split("action=\"/registers/training/")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .expect("a training record to attach to")
        .to_owned();
    let csrf = hidden(&training.body, "csrf").expect("csrf");
    let r = osl
        .upload(
            &format!("/registers/training/{record}/evidence"),
            &csrf,
            "certificate.pdf",
            b"%PDF-1.4 cert".to_vec(),
        )
        .await;
    assert!(
        r.location.as_deref().is_some_and(|l| l.contains("Certificate+kept")),
        "{r:?}"
    );
    let training = osl.get("/registers/training").await;
    let certificate = training
        .body
        .split("href=\"/registers/files/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the certificate is listed")
        .to_owned();
    assert_eq!(
        osl.get(&format!("/registers/files/{certificate}")).await.body,
        "%PDF-1.4 cert"
    );
    assert!(osl.get("/registers/training.csv").await.body.contains("Daniel Okoro"));

    // A teacher: photo consent yes, the asset register and training of others no.
    let teacher = sign_in_enrolled(&server, "mbell").await;
    let r = teacher.get("/registers").await;
    assert_eq!(r.location.as_deref(), Some("/registers/photos"));
    let photos = teacher.get("/registers/photos?class=2+Hazel").await;
    assert_eq!(photos.status, StatusCode::OK);
    assert!(photos.body.contains("Do not photograph or publish"), "{}", photos.body);
    assert!(
        !photos.body.contains("Import answers"),
        "a teacher does not import consent"
    );
    assert_eq!(teacher.get("/registers/assets").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        teacher.get(&format!("/registers/files/{certificate}")).await.status,
        StatusCode::FORBIDDEN,
        "someone else's certificate"
    );
    assert_eq!(
        teacher.get("/registers/consent.csv").await.status,
        StatusCode::FORBIDDEN
    );
    let own = teacher.get("/registers/training").await;
    assert!(
        own.body.contains("Marcus Bell") && !own.body.contains("Daniel Okoro"),
        "{}",
        own.body
    );

    // The office imports consent forms: a file with a bad row changes nothing and says where.
    let office = sign_in_enrolled(&server, "jhartley").await;
    let csrf = office.csrf("/registers/photos").await;
    let export = office.get("/registers/consent.csv").await;
    assert_eq!(export.status, StatusCode::OK);
    let upn = export
        .body
        .lines()
        .nth(1)
        .and_then(|l| l.split(',').next())
        .expect("a pupil")
        .to_owned();
    let answers_before = export.body.lines().count();
    let bad = format!("UPN,Date,Parent,Video\n{upn},2026-09-20,Mrs Test,yes\nNOBODY,2026-09-20,Mr X,yes\n");
    let r = office
        .upload("/registers/consent/import", &csrf, "forms.csv", bad.into_bytes())
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("line 3: no current pupil"), "{}", r.body);
    assert_eq!(
        office.get("/registers/consent.csv").await.body.lines().count(),
        answers_before
    );
    let good = format!("UPN,Date,Parent,Video\n{upn},2026-09-20,Mrs Test,no\n");
    let r = office
        .upload("/registers/consent/import", &csrf, "forms.csv", good.into_bytes())
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let export = office.get("/registers/consent.csv").await;
    assert!(
        export.body.contains(&format!("{upn},")) && export.body.contains("video,refused,2026-09-20,Mrs Test"),
        "{}",
        export.body
    );
    // The export reads back in through the importer.
    let r = office
        .upload(
            "/registers/consent/import",
            &csrf,
            "export.csv",
            export.body.into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    // The technician keeps the asset register: import, export, and disposal needs a record.
    let tech = sign_in_enrolled(&server, "gpryce").await;
    let csrf = tech.csrf("/registers/assets").await;
    let file = "Asset tag,Kind,Make,Model,Serial,Location,Encrypted\nTAB-001,tablet,Apple,iPad 10,DX1,Reception,yes\nTAB-002,toaster,,,,,\n";
    let r = tech
        .upload(
            "/registers/assets/import",
            &csrf,
            "tablets.csv",
            file.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("line 3"), "{}", r.body);
    let file = "Asset tag,Kind,Make,Model,Serial,Location,Encrypted\nTAB-001,tablet,Apple,iPad 10,DX1,Reception,yes\n";
    let r = tech
        .upload(
            "/registers/assets/import",
            &csrf,
            "tablets.csv",
            file.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let export = tech.get("/registers/hardware.csv").await;
    assert!(
        export
            .body
            .contains("TAB-001,tablet,Apple,iPad 10,DX1,Reception,yes,no"),
        "{}",
        export.body
    );
    let r = tech
        .upload(
            "/registers/assets/import",
            &csrf,
            "export.csv",
            export.body.clone().into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "the export imports back: {}", r.body);
    let assets = tech.get("/registers/assets").await;
    let id = assets
        .body
        .split("href=\"/registers/assets/")
        .find(|s| s.contains(">TAB-001<"))
        .and_then(|s| s.split('"').next())
        .expect("the tablet's page")
        .to_owned();
    let r = tech
        .post(
            &format!("/registers/assets/{id}/dispose"),
            &[
                ("csrf", &csrf),
                ("disposed_on", "2026-09-01"),
                ("method", "destroyed"),
                ("collected_by", "Recyclers Ltd"),
                ("weee_receipt", "W1"),
            ],
        )
        .await;
    assert!(
        r.location.as_deref().is_some_and(|l| l.contains("Not+disposed")),
        "{r:?}"
    );
    let r = tech
        .post(
            &format!("/registers/assets/{id}/dispose"),
            &[
                ("csrf", &csrf),
                ("disposed_on", "2026-09-01"),
                ("method", "destroyed"),
                ("collected_by", "Recyclers Ltd"),
                ("certificate", "COD-9"),
                ("weee_receipt", "W1"),
            ],
        )
        .await;
    assert!(
        r.location.as_deref().is_some_and(|l| l.contains("Disposal+recorded")),
        "{r:?}"
    );
    let item = tech.get(&format!("/registers/assets/{id}")).await;
    assert!(item.body.contains("COD-9"), "{}", item.body);
    assert!(
        tech.get("/registers/software.csv")
            .await
            .body
            .contains("Microsoft 365 A1")
    );

    // A confiscated phone is recorded and returned by any member of staff.
    let csrf = teacher.csrf("/registers/confiscations").await;
    let page = teacher.get("/registers/confiscations").await;
    let pupil = page
        .body
        .split("<option value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a pupil")
        .to_owned();
    let r = teacher
        .post(
            "/registers/confiscations",
            &[
                ("csrf", &csrf),
                ("person", &pupil),
                ("item", "Phone"),
                ("held_where", "Office safe"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let held = teacher.get("/registers/confiscations").await;
    assert!(held.body.contains("Office safe"), "{}", held.body);

    // The headteacher and the safeguarding governor sign a review off.
    let head = sign_in_enrolled(&server, "hmarsh").await;
    let csrf = head.csrf("/registers/reviews/filtering_monitoring").await;
    let path = "/registers/reviews/filtering_monitoring";
    assert_eq!(
        head.post(path, &[("csrf", &csrf), ("action", "open")]).await.status,
        StatusCode::SEE_OTHER
    );
    head.post(
        path,
        &[
            ("csrf", &csrf),
            ("action", "save"),
            ("findings", "Filtering works for every group."),
            ("check0", "1"),
        ],
    )
    .await;
    // Evidence is attached as a file; it is a download, for those who see reviews.
    let r = head
        .upload(
            &format!("{path}/evidence"),
            &csrf,
            "filter-tests.pdf",
            b"%PDF-1.4 filter checks".to_vec(),
        )
        .await;
    assert!(r.location.as_deref().is_some_and(|l| l.contains("File+added")), "{r:?}");
    let review = head.get(path).await;
    let file = review
        .body
        .split("href=\"/registers/files/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the file is listed")
        .to_owned();
    assert!(review.body.contains("filter-tests.pdf"));
    assert_eq!(
        teacher.get(&format!("/registers/files/{file}")).await.status,
        StatusCode::FORBIDDEN
    );
    head.post(path, &[("csrf", &csrf), ("action", "sign")]).await;
    let governor = sign_in_enrolled(&server, "kasante").await;
    let gcsrf = governor.csrf(path).await;
    let r = governor.post(path, &[("csrf", &gcsrf), ("action", "sign")]).await;
    assert!(r.location.as_deref().is_some_and(|l| l.contains("complete")), "{r:?}");
    let review = governor.get(path).await;
    assert!(review.body.contains("completed"), "{}", review.body);
    let download = governor.get(&format!("/registers/files/{file}")).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body, "%PDF-1.4 filter checks");
    let (code, out, _) = run(&["audit", "verify"], server.data_dir());
    assert_eq!(code, 0, "{out}");
}
