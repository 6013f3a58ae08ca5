use std::time::Instant;
fn main() {
    let path = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let t = Instant::now();
    let cap = newswire::transport::Capture::load(&[path], 10 << 20, 5).unwrap();
    println!(
        "load {:.2}s records {}",
        t.elapsed().as_secs_f64(),
        cap.records.len()
    );
    let t = Instant::now();
    let n = cap
        .records
        .iter()
        .filter(|r| r.status == 200 && newswire::feed::parse(&r.body, &r.url).is_ok())
        .count();
    println!(
        "feed detection {:.2}s feeds {}",
        t.elapsed().as_secs_f64(),
        n
    );
}
