//! What a consumer and an operator see of a revision: `newswire tail` printing the diff of a
//! revised event from the real RabbitMQ (plain, since its stdout is a pipe), and
//! `newswire history` listing an article's revisions from a replay's state store.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CAPTURE: &str = "captures/casualty-update/capture.warc.gz";
const ARTICLE: &str = "http://harbor.test/news/2026/02/17/ferry-ramp-collapse";

#[tokio::test]
async fn tail_prints_a_revision_diff_plainly_when_piped() {
    let conn = common::broker().await;
    let exchange = common::unique("events-tail");
    let mut tail = Command::new(common::bin())
        .args(["tail", "--count", "2", "--timeout", "60s"])
        .env("NEWSWIRE__AMQP__URL", common::BROKER)
        .env("NEWSWIRE__AMQP__EXCHANGE", &exchange)
        .env_remove("NEWSWIRE_CONFIG")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Publish only once the temporary queue is bound.
    let mut stderr = BufReader::new(tail.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("tailing exchange"), "{line}");

    common::run_ok(
        Command::new(common::bin())
            .arg("replay")
            .arg(common::fixture(CAPTURE))
            .args(["--sink", "amqp"])
            .env("NEWSWIRE__AMQP__URL", common::BROKER)
            .env("NEWSWIRE__AMQP__EXCHANGE", &exchange)
            .env("NEWSWIRE__AMQP__QUEUE", "")
            .env_remove("NEWSWIRE_CONFIG"),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(s) = tail.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = tail.kill();
            panic!("tail did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    tail.stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(status.success(), "tail exit {status:?}: {out}");
    let ch = conn.create_channel().await.unwrap();
    let _ = ch
        .exchange_delete(exchange.as_str().into(), Default::default())
        .await;

    assert!(!out.contains('\x1b'), "no colour when piped: {out:?}");
    let lines: Vec<&str> = out.lines().collect();
    let revised = lines
        .iter()
        .position(|l| l.contains(" revised ") && l.contains(" r2 "))
        .unwrap_or_else(|| panic!("no revised event: {out}"));
    // The published event has no diff: its two lines only.
    assert_eq!(revised, 2, "{out}");
    let title = "Ferry ramp collapse injures passengers at Gull Island terminal";
    assert_eq!(
        lines[revised..],
        [
            format!("2026-02-17T15:30:05Z  revised   r2   {title}").as_str(),
            format!("    {ARTICLE}  changed: body, updated_at, revision_notes  (273 words)")
                .as_str(),
            "      updated_at: [-none-]{+2026-02-17T15:23:00+00:00+}",
            "      paragraph 1: …7:40 sailing unloaded, injuring [-17-]{+26+} people, the Port Alder fire…",
            "      paragraph 4: …a passenger shows at least [-10-]{+23+} vehicles stopped on the deck…",
            "      paragraph 7 added: {+Two of the injured remained in serious condition at Alder General Hospital on Tuesday evening, a hospital spokesperson said. The others were treated for cuts and broken bones and sent home.+}",
            "      paragraph 9 added: {+Update, Feb. 17: The number of people injured and of vehicles seen in the footage was changed, and information on the patients still in hospital was added.+}",
            "      note added: {+Update, Feb. 17: The number of people injured and of vehicles seen in the footage was changed, and information on the patients still in hospital was added.+}",
        ],
        "{out}"
    );
}

#[test]
fn history_lists_the_revisions_of_a_replayed_article() {
    let dir = common::tempdir("history");
    let state = dir.join("state.sqlite3");
    common::run_ok(
        Command::new(common::bin())
            .arg("replay")
            .arg(common::fixture(CAPTURE))
            .arg("--state")
            .arg(&state)
            .env_remove("NEWSWIRE_CONFIG")
            .stdout(Stdio::null()),
    );
    // By URL (tracking parameters do not matter) and by id: the same history.
    let by_url = common::run_ok(
        Command::new(common::bin())
            .args(["history", &format!("{ARTICLE}?utm_source=x")])
            .arg("--state")
            .arg(&state)
            .env_remove("NEWSWIRE_CONFIG"),
    );
    let text = String::from_utf8(by_url.stdout).unwrap();
    let id = newswire::track::article_id(&ARTICLE.parse().unwrap());
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            format!("article {id}  Ferry ramp collapse injures passengers at Gull Island terminal")
                .as_str(),
            "r1   2026-02-17T10:30:05Z  published",
            "r2   2026-02-17T15:30:05Z  revised   body (2 paragraphs changed, 2 paragraphs added); updated_at none -> 2026-02-17T15:23:00+00:00; revision_notes (+1 -0)",
        ],
        "{text}"
    );
    let json = common::run_ok(
        Command::new(common::bin())
            .args(["history", &id, "--json"])
            .arg("--state")
            .arg(&state)
            .env_remove("NEWSWIRE_CONFIG"),
    );
    let rows: Vec<serde_json::Value> = String::from_utf8(json.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["revision"], 2);
    assert_eq!(
        rows[1]["event_id"],
        newswire::track::event_id(&id, 2).as_str()
    );
    assert_eq!(
        rows[1]["changes"],
        serde_json::json!(["body", "updated_at", "revision_notes"])
    );

    // An unknown article, and a store that does not exist, are one-line errors.
    let missing = Command::new(common::bin())
        .args(["history", "http://harbor.test/no/such/article", "--state"])
        .arg(&state)
        .env_remove("NEWSWIRE_CONFIG")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        !missing.status.success() && err.contains("no article") && err.lines().count() == 1,
        "{err}"
    );
    let nowhere = dir.join("none.sqlite3");
    let missing = Command::new(common::bin())
        .args(["history", ARTICLE, "--state"])
        .arg(&nowhere)
        .env_remove("NEWSWIRE_CONFIG")
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(!nowhere.exists(), "history never creates a store");
}
