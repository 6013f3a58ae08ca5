//! SHA-1 (the `sha1` crate) and RFC 4648 base32, the digest format WARC tools write
//! (`sha1:BASE32`).
//!
//! SHA-1 here only labels content for deduplication and integrity checks inside a capture, the
//! same use wget, warcio and Heritrix make of it; it is not used where collision resistance
//! matters. Base32 stays in-tree: twenty lines, against a crate for one alphabet.

use sha1::{Digest, Sha1};

pub(crate) fn sha1(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

/// RFC 4648 base32, upper case, padded (a SHA-1 digest is 160 bits, so never padded in practice).
pub(crate) fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    for group in data.chunks(5) {
        let mut bytes = [0u8; 5];
        bytes[..group.len()].copy_from_slice(group);
        let bits = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let symbols = (group.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < symbols {
                out.push(ALPHABET[((bits >> (35 - 5 * i)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `sha1:BASE32`, the value of `WARC-Block-Digest` and `WARC-Payload-Digest`.
pub(crate) fn warc_sha1(data: &[u8]) -> String {
    format!("sha1:{}", base32(&sha1(data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: &[u8]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha1_known_vectors() {
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&sha1(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        let million_a = vec![b'a'; 1_000_000];
        assert_eq!(
            hex(&sha1(&million_a)),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
    }

    #[test]
    fn base32_rfc4648_vectors_and_empty_digest() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY======");
        assert_eq!(base32(b"fo"), "MZXQ====");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI======");
        // The digest every WARC tool writes for an empty payload.
        assert_eq!(warc_sha1(b""), "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ");
    }
}
