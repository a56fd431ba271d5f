//! The Internet checksum (RFC 1071): one's complement of the one's complement sum of
//! big-endian 16-bit words.

/// Checksum over the concatenation of `parts`.
///
/// Every part except the last must have an even length (pseudo-header pieces do); an odd
/// last part is padded with a zero byte, as RFC 1071 says. Over a message that carries a
/// correct checksum the result is 0.
pub fn internet_checksum(parts: &[&[u8]]) -> u16 {
    // u64 cannot overflow: each part adds at most len/2 * 0xffff.
    let mut sum: u64 = 0;
    // Summed four bytes at a time: a 32-bit big-endian word is its high 16-bit word times
    // 2^16 plus its low one, and 2^16 is 1 in one's complement arithmetic (mod 0xffff), so
    // the fold below gives the same sum as adding the 16-bit words one by one. Every part
    // but the last has an even length, so each part starts on a 16-bit word.
    for part in parts {
        let mut quads = part.chunks_exact(4);
        for quad in &mut quads {
            if let [a, b, c, d] = quad {
                sum += u64::from(u32::from_be_bytes([*a, *b, *c, *d]));
            }
        }
        match quads.remainder() {
            [high, low, last] => {
                sum += u64::from(u16::from_be_bytes([*high, *low]));
                sum += u64::from(u16::from_be_bytes([*last, 0]));
            }
            [high, low] => sum += u64::from(u16::from_be_bytes([*high, *low])),
            [last] => sum += u64::from(u16::from_be_bytes([*last, 0])),
            _ => {}
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The loop leaves sum <= 0xffff.
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 word by word, as the definition reads.
    fn by_16_bit_words(parts: &[&[u8]]) -> u16 {
        let bytes: Vec<u8> = parts.concat();
        let mut sum: u32 = 0;
        for word in bytes.chunks(2) {
            let low = word.get(1).copied().unwrap_or(0);
            sum += u32::from(u16::from_be_bytes([word[0], low]));
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn four_bytes_at_a_time_equals_word_by_word() {
        let mut seed = 0x1234_5678_9abc_def1_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..5_000 {
            let parts: Vec<Vec<u8>> = (0..1 + next() % 6)
                .map(|_| (0..next() % 40).map(|_| next() as u8).collect())
                .collect();
            // Every part but the last of even length, as the function asks.
            let mut parts: Vec<Vec<u8>> = parts;
            let last = parts.len() - 1;
            for part in &mut parts[..last] {
                if part.len() % 2 == 1 {
                    part.push(0xff);
                }
            }
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            assert_eq!(
                internet_checksum(&refs),
                by_16_bit_words(&refs),
                "{parts:?}"
            );
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(internet_checksum(&[&data]), !0xddf2);
    }

    #[test]
    fn split_parts_equal_whole() {
        let data = [0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11];
        let (a, b) = data.split_at(4);
        assert_eq!(internet_checksum(&[a, b]), internet_checksum(&[&data]));
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(
            internet_checksum(&[&[0x12, 0x34, 0x56]]),
            internet_checksum(&[&[0x12, 0x34, 0x56, 0x00]])
        );
    }

    #[test]
    fn verifying_a_checksummed_message_gives_zero() {
        let mut data = [
            0x21, 0x33, 0x96, 0x02, 0x01, 0x01, 0x00, 0x00, 0xc0, 0x00, 0x02, 0x64,
        ];
        let sum = internet_checksum(&[&data]);
        data[6..8].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(internet_checksum(&[&data]), 0);
    }

    #[test]
    fn carries_fold_around() {
        // 0xffff + 0x0001 = 0x10000 -> folds to 0x0001 -> checksum 0xfffe.
        assert_eq!(internet_checksum(&[&[0xff, 0xff, 0x00, 0x01]]), 0xfffe);
    }
}
