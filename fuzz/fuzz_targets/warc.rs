//! WARC reading: records of a plain or gzipped stream, and the HTTP responses they hold. Never
//! panics, and never holds more than the caps given (a lying `Content-Length` or a gzip bomb
//! costs at most the cap).
#![no_main]

use libfuzzer_sys::fuzz_target;

const CAP: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = newswire::warc::from_reader(std::io::Cursor::new(data.to_vec())) else {
        return;
    };
    for record in reader.with_max_record(CAP).take(256) {
        let Ok(record) = record else { continue };
        assert!(record.block.len() as u64 <= CAP);
        if record.warc_type == "response" {
            if let Ok(http) = newswire::warc::parse_response(&record.block, CAP) {
                assert!(http.body.len() as u64 <= CAP);
            }
        }
    }
});
