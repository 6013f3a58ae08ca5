//! The committed replay captures (`tests/fixtures/captures/*/capture.warc.gz`) match their
//! `capture.toml` sources, and read back as declared.

#[allow(dead_code)]
#[path = "../examples/make_captures.rs"]
mod make_captures;

use make_captures::{CAPTURE_FILE, build_capture, captures_root, load_scenario, scenario_dirs};
use newswire::warc::{self, WarcError};

#[test]
fn committed_captures_are_up_to_date() {
    let dirs = scenario_dirs(&captures_root()).expect("captures directory");
    assert!(
        !dirs.is_empty(),
        "no scenarios under {}",
        captures_root().display()
    );
    let mut stale = Vec::new();
    for dir in &dirs {
        let fresh = build_capture(dir).unwrap_or_else(|e| panic!("{e}"));
        let committed = std::fs::read(dir.join(CAPTURE_FILE)).ok();
        if committed.as_deref() != Some(fresh.as_slice()) {
            stale.push(dir.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(
        stale.is_empty(),
        "captures out of date: {stale:?}; run `cargo run --example make_captures` and commit the result"
    );
}

#[test]
fn captures_read_back_as_declared() {
    for dir in scenario_dirs(&captures_root()).expect("captures directory") {
        let scenario = load_scenario(&dir).unwrap();
        let records: Vec<warc::Record> = warc::open(&dir.join(CAPTURE_FILE))
            .unwrap()
            .collect::<Result<_, WarcError>>()
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let responses: Vec<&warc::Record> = records
            .iter()
            .filter(|r| r.warc_type == "response")
            .collect();
        assert_eq!(records[0].warc_type, "warcinfo");
        assert_eq!(responses.len(), scenario.records.len(), "{}", dir.display());
        for (record, entry) in responses.iter().zip(&scenario.records) {
            assert_eq!(record.target_uri.as_deref(), Some(entry.url.as_str()));
            let http = warc::parse_response(&record.block, 8 * 1024 * 1024).unwrap();
            assert_eq!(http.status, entry.status, "{}", entry.url);
            if let Some(file) = &entry.body_file {
                let expected = std::fs::read(dir.join(file)).unwrap();
                assert_eq!(http.body, expected, "{} body (decoded)", entry.url);
            }
        }
    }
}
