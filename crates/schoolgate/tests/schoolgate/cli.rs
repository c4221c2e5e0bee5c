//! The one-off commands: people, consent and assets imports, and audit verify.

use std::process::Command;

use crate::{BIN, fixture, run};

#[tokio::test]
async fn people_import_lists_every_bad_row_and_changes_nothing_then_imports_a_good_file() {
    let server = crate::demo(None);
    let data = server.data_dir().to_owned();
    let (code, _, err) = run(&["people", "import", &fixture("mis-pupils-bad.csv")], &data);
    assert_eq!(code, 1, "{err}");
    for expected in [
        "line 3: the forename is empty",
        "line 4: the UPN",
        "line 5: the year group \"Year 9 3/4\"",
        "line 6: identifier",
    ] {
        assert!(err.contains(expected), "expected {expected:?} in:\n{err}");
    }
    // The fixture holds five pupils, not the demo's 63: importing it as the full roll would
    // make 63 leavers, so it is refused until that is confirmed.
    let (code, _, err) = run(&["people", "import", &fixture("mis-pupils.csv")], &data);
    assert_eq!(code, 1);
    assert!(
        err.contains("does not list 63 of the 63 pupils") && err.contains("--allow-many-leavers"),
        "{err}"
    );
    let (code, out, err) = run(
        &[
            "people",
            "import",
            &fixture("mis-pupils.csv"),
            "--as",
            "gpryce",
            "--allow-many-leavers",
        ],
        &data,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("5 added, 0 updated, 0 unchanged, 63 marked as leavers"),
        "{out}"
    );
    let (code, out, _) = run(&["people", "import", &fixture("mis-pupils.csv")], &data);
    assert_eq!(code, 0);
    assert!(
        out.contains("0 added, 0 updated, 5 unchanged"),
        "re-import does not duplicate: {out}"
    );
}

#[tokio::test]
async fn audit_verify_passes_then_names_the_first_tampered_entry() {
    let server = crate::demo(None);
    let data = server.data_dir().to_owned();
    let (code, out, err) = run(&["audit", "verify"], &data);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Demo Primary School:") && out.contains("chain intact"),
        "{out}"
    );

    let store = store::Store::open(&store::Database::Sqlite(data.join("schoolgate.db")))
        .await
        .expect("open");
    store
        .execute_raw("DROP TRIGGER audit_log_no_update")
        .await
        .expect("drop trigger");
    store
        .execute_raw("UPDATE audit_log SET details = '{}' WHERE seq = 7")
        .await
        .expect("tamper");
    store.close().await;
    let (code, out, _) = run(&["audit", "verify"], &data);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("broken at entry 7"), "{out}");
}

#[tokio::test]
async fn a_malformed_config_file_is_refused_naming_the_key_and_line() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[console]\nlisten = \"127.0.0.1:0\"\nidle_timout = \"5m\"\n").expect("write");
    let out = Command::new(BIN)
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .arg("--data")
        .arg(dir.path().join("d"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3") && err.contains("idle_timout"), "{err}");
}

#[tokio::test]
async fn consent_and_assets_import_from_the_command_line_whole_or_not_at_all() {
    let server = crate::demo(Some("[console]\nidle_timeout = \"10m\"\n"));
    let data = server.data_dir().to_owned();
    let write = |name: &str, text: &str| {
        let path = data.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };

    let bad = write("devices-bad.csv", "Asset tag,Kind\nLT-100,laptop\nLT-101,kettle\n");
    let (code, _, err) = run(&["assets", "import", &bad, "--as", "gpryce"], &data);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("line 3: unknown hardware kind \"kettle\""), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    let good = write(
        "devices.csv",
        "Asset tag,Kind,Make,Model\nLT-100,laptop,Dell,Latitude\n",
    );
    let (code, out, err) = run(&["assets", "import", &good, "--as", "gpryce"], &data);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 devices added, 0 updated"), "{out}");

    // A pupil the school has, from the office's consent export, and one it does not.
    let office = crate::filtering::sign_in_enrolled(&server, "jhartley").await;
    let export = office.get("/registers/consent.csv").await.body;
    let upn = export
        .lines()
        .nth(1)
        .and_then(|l| l.split(',').next())
        .expect("a pupil")
        .to_owned();
    let bad = write(
        "consent-bad.csv",
        &format!("UPN,Date,Video\n{upn},2026-09-20,yes\nZ000,2026-09-20,yes\n"),
    );
    let (code, _, err) = run(&["consent", "import", &bad], &data);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("line 3: no current pupil has the UPN, ID or username Z000"),
        "{err}"
    );
    let good = write(
        "consent.csv",
        &format!("UPN,Date,Parent,Video\n{upn},2026-09-20,Mrs Test,withdrawn\n"),
    );
    let (code, out, err) = run(&["consent", "import", &good], &data);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 consent answers"), "{out}");
    let export = office.get("/registers/consent.csv").await.body;
    assert!(export.contains("video,withdrawn,2026-09-20,Mrs Test"), "{export}");
}
