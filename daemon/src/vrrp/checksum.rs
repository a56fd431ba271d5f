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
    for part in parts {
        let mut words = part.chunks_exact(2);
        for word in &mut words {
            if let [high, low] = word {
                sum += u64::from(u16::from_be_bytes([*high, *low]));
            }
        }
        if let [last] = words.remainder() {
            sum += u64::from(u16::from_be_bytes([*last, 0]));
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
