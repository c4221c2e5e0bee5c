//! The one-off commands: people import and audit verify.

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
