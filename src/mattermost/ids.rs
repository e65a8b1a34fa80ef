//! Mattermost ids: 26 characters of `[a-z0-9]`, the base32 of 16 bytes in Mattermost's own alphabet
//! (`model.NewId`). Our ids are UUIDs, also 16 bytes, so each of ours has exactly one Mattermost id
//! and back: no mapping table, and an id a client read from one node is valid on every other.

use uuid::Uuid;

/// Mattermost's base32 alphabet (`model/utils.go`, `encoding`).
const ALPHABET: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";
/// Characters of an id.
pub const ID_LEN: usize = 26;

/// The Mattermost id of a UUID.
pub fn encode(id: Uuid) -> String {
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(ID_LEN);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
    }
    // 128 bits leave 3, padded with two zero bits as base32 does.
    out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    out
}

/// The UUID a Mattermost id names; `None` unless it is exactly one that [`encode`] produces.
pub fn decode(text: &str) -> Option<Uuid> {
    let text = text.as_bytes();
    if text.len() != ID_LEN {
        return None;
    }
    let mut bytes = [0u8; 16];
    let (mut acc, mut bits, mut n) = (0u32, 0u32, 0usize);
    for (i, &c) in text.iter().enumerate() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        if i == ID_LEN - 1 {
            // The last character carries 3 bits; the 2 padding bits must be zero (one text per id).
            if v & 3 != 0 {
                return None;
            }
            acc = (acc << 3) | (v >> 2);
            bits += 3;
        } else {
            acc = (acc << 5) | v;
            bits += 5;
        }
        if bits >= 8 {
            bits -= 8;
            bytes[n] = (acc >> bits) as u8;
            n += 1;
        }
    }
    Some(Uuid::from_bytes(bytes))
}

/// A fresh random id (request ids, connection ids).
pub fn random() -> String {
    encode(Uuid::new_v4())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_look_like_mattermost_ids() {
        for id in [Uuid::nil(), Uuid::max(), Uuid::now_v7(), Uuid::new_v4()] {
            let text = encode(id);
            assert_eq!(text.len(), 26, "{text}");
            assert!(text.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()), "{text}");
            assert_eq!(decode(&text), Some(id));
        }
    }

    #[test]
    fn mattermost_encodes_bytes_as_base32_in_its_alphabet() {
        // base32 of 16 zero bytes is 26 'A's (alphabet index 0 = 'y').
        assert_eq!(encode(Uuid::nil()), "y".repeat(26));
        // 0xff.. is all ones: index 31 ('9') then the last 3 bits padded: 0b11100 = 28 ('h').
        assert_eq!(encode(Uuid::max()), format!("{}h", "9".repeat(25)));
    }

    #[test]
    fn anything_else_is_not_an_id() {
        let good = encode(Uuid::now_v7());
        assert_eq!(decode(&good[..25]), None);
        assert_eq!(decode(&format!("{good}y")), None);
        assert_eq!(decode(&good.to_uppercase()), None);
        assert_eq!(decode("me"), None);
        // The same bits with nonzero padding would be a second text for one id.
        assert_eq!(decode(&format!("{}9", "9".repeat(25))), None);
        assert_eq!(decode(&format!("{}l", "y".repeat(25))), None);
    }
}
