//! Helpers shared by the kvfs userspace tests (`tests/`) and the stress
//! program (`src/bin/kvfs-stress.rs`): a seeded random generator and a
//! checksum, so that runs need no extra crate and a seed replays a run.

/// A small deterministic generator (xorshift64*): the same seed gives the
/// same sequence on every machine.
pub struct Rng(u64);

impl Rng {
    /// Starts a sequence from `seed`; every seed, zero included, is valid.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`; `n` must not be zero.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// FNV-1a, 64-bit: a checksum that any torn or mixed value fails.
pub fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The value writer `writer` puts with sequence `seq`: a header line, then a
/// payload that only those two determine.
pub fn make_value(writer: u64, seq: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(writer << 32 ^ seq);
    let payload = rng.bytes(len);
    let mut value = format!("V {writer} {seq} {len} {:016x}\n", checksum(&payload)).into_bytes();
    value.extend_from_slice(&payload);
    value
}

/// Parses and checks a value; returns its writer and sequence.
pub fn check_value(value: &[u8]) -> Result<(u64, u64), String> {
    let newline = value
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| format!("no header in a value of {} bytes", value.len()))?;
    let header = std::str::from_utf8(&value[..newline]).map_err(|_| "header not UTF-8")?;
    let fields: Vec<&str> = header.split(' ').collect();
    let [tag, writer, seq, len, sum] = fields[..] else {
        return Err(format!("bad header {header:?}"));
    };
    let parse = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("bad header {header:?}"))
    };
    let (writer, seq, len) = (parse(writer)?, parse(seq)?, parse(len)?);
    let payload = &value[newline + 1..];
    if tag != "V" || payload.len() as u64 != len {
        return Err(format!(
            "header {header:?} but {} payload bytes",
            payload.len()
        ));
    }
    if format!("{:016x}", checksum(payload)) != sum {
        return Err(format!("checksum mismatch under header {header:?}"));
    }
    if value != make_value(writer, seq, len as usize) {
        return Err(format!("payload differs from what {header:?} wrote"));
    }
    Ok((writer, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_checks_out_and_a_torn_one_does_not() {
        let value = make_value(3, 7, 1000);
        assert_eq!(check_value(&value), Ok((3, 7)));
        let mut torn = value.clone();
        torn.truncate(600);
        assert!(check_value(&torn).is_err());
        let mut mixed = value.clone();
        mixed[500..].copy_from_slice(&make_value(4, 1, 1000)[500..]);
        assert!(check_value(&mixed).is_err());
    }
}
