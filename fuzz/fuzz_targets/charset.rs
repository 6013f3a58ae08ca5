//! Charset detection and decoding. The input's first line (when short) is the `Content-Type`,
//! the rest the body. Never panics; a byte-order mark always wins; decoding is deterministic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use newswire::charset::{decode, decode_with_encoding};

fuzz_target!(|data: &[u8]| {
    let (content_type, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) if i <= 128 => (std::str::from_utf8(&data[..i]).ok(), &data[i + 1..]),
        _ => (None, data),
    };
    let (text, encoding) = decode_with_encoding(body, content_type);
    if let Some((bom, _)) = encoding_rs::Encoding::for_bom(body) {
        assert_eq!(bom, encoding, "a byte-order mark wins");
    }
    if encoding == encoding_rs::UTF_8 {
        if let Ok(s) = std::str::from_utf8(body) {
            assert_eq!(s.strip_prefix('\u{feff}').unwrap_or(s), text);
        }
    }
    assert_eq!(decode(body, content_type), text);
});
