// SPDX-License-Identifier: GPL-2.0

//! Mount options of a kvfs store: parsing, defaults and their text form for
//! `/proc/mounts`.
//!
//! Options come as one comma-separated string, as mount(2) passes them to a
//! filesystem: `mode=`, `uid=`, `gid=`, `max_keys=`, `max_bytes=` and
//! `max_value=`. Sizes take an optional `k`, `m` or `g` suffix (binary
//! multiples, either case). A repeated option takes its last value, as on
//! tmpfs. This file uses only `core`, so it is unit-tested on the host.

use crate::limits::Limits;
use core::fmt;

/// Settings of one mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Options {
    /// Permission bits of the root directory (including sticky, setgid).
    pub(crate) mode: u16,
    /// Owner of the root directory.
    pub(crate) uid: u32,
    /// Group of the root directory.
    pub(crate) gid: u32,
    /// Limits of the store.
    pub(crate) limits: Limits,
}

/// Memory a key costs the kernel beyond its value (inode, dentry, state),
/// rounded up; the default key limit keeps that overhead within the same
/// share of memory as the default byte limit.
const KEY_COST: u64 = 1024;

/// Default largest value.
const DEFAULT_MAX_VALUE: u64 = 16 << 20;

impl Options {
    /// The defaults for a machine with `total_ram` bytes of memory: a quarter
    /// of memory for values, as many keys as a quarter of memory holds at
    /// [`KEY_COST`] each, values up to 16 MiB, and a root directory like
    /// /tmp's (mode 1777, owned by root).
    pub(crate) fn defaults(total_ram: u64) -> Options {
        let quarter = total_ram / 4;
        Options {
            mode: 0o1777,
            uid: 0,
            gid: 0,
            limits: Limits {
                max_keys: (quarter / KEY_COST).max(1),
                max_bytes: quarter,
                max_value: DEFAULT_MAX_VALUE.min(quarter),
            },
        }
    }

    /// Applies every option of `text` to `self`. On error `self` is
    /// unchanged and the error names the offending option. A `max_bytes`
    /// below the current `max_value` lowers `max_value` with it, unless
    /// `text` sets `max_value` too.
    pub(crate) fn apply<'a>(&mut self, text: &'a str) -> Result<(), OptionError<'a>> {
        let mut next = *self;
        let mut max_value_given = false;
        for option in text.split(',').filter(|o| !o.is_empty()) {
            let (name, value) = option
                .split_once('=')
                .ok_or(OptionError::Malformed(option))?;
            let bad = || OptionError::Malformed(option);
            match name {
                "mode" => next.mode = parse_mode(value).ok_or_else(bad)?,
                "uid" => next.uid = parse_id(value).ok_or_else(bad)?,
                "gid" => next.gid = parse_id(value).ok_or_else(bad)?,
                "max_keys" => next.limits.max_keys = parse_count(value).ok_or_else(bad)?,
                "max_bytes" => next.limits.max_bytes = parse_size(value).ok_or_else(bad)?,
                "max_value" => {
                    next.limits.max_value = parse_size(value).ok_or_else(bad)?;
                    max_value_given = true;
                }
                _ => return Err(OptionError::Unknown(name)),
            }
        }
        if !max_value_given {
            next.limits.max_value = next.limits.max_value.min(next.limits.max_bytes);
        }
        if next.limits.max_value > next.limits.max_bytes {
            return Err(OptionError::Conflict("max_value is larger than max_bytes"));
        }
        *self = next;
        Ok(())
    }
}

/// Why a mount option string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OptionError<'a> {
    /// An option kvfs does not know; holds its name.
    Unknown(&'a str),
    /// A known option with a value that does not parse; holds the option.
    Malformed(&'a str),
    /// Options that cannot hold together; says which.
    Conflict(&'static str),
}

impl fmt::Display for OptionError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionError::Unknown(name) => write!(f, "unknown mount option '{name}'"),
            OptionError::Malformed(option) => write!(f, "bad value in mount option '{option}'"),
            OptionError::Conflict(why) => write!(f, "conflicting mount options: {why}"),
        }
    }
}

/// Writes the options the way `/proc/mounts` shows them, each preceded by a
/// comma.
impl fmt::Display for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            ",mode={:o},uid={},gid={},max_keys={},max_bytes=",
            self.mode, self.uid, self.gid, self.limits.max_keys
        )?;
        write_size(f, self.limits.max_bytes)?;
        f.write_str(",max_value=")?;
        write_size(f, self.limits.max_value)
    }
}

/// Writes `bytes` with the largest suffix that divides it exactly.
fn write_size(f: &mut fmt::Formatter<'_>, bytes: u64) -> fmt::Result {
    for (shift, suffix) in [(30, 'g'), (20, 'm'), (10, 'k')] {
        if bytes != 0 && bytes % (1 << shift) == 0 {
            return write!(f, "{}{suffix}", bytes >> shift);
        }
    }
    write!(f, "{bytes}")
}

fn parse_mode(text: &str) -> Option<u16> {
    let mode = u16::from_str_radix(text, 8).ok()?;
    (mode <= 0o7777).then_some(mode)
}

/// Parses a user or group id; `u32::MAX` is the kernel's invalid id.
fn parse_id(text: &str) -> Option<u32> {
    let id: u32 = text.parse().ok()?;
    (id != u32::MAX).then_some(id)
}

fn parse_count(text: &str) -> Option<u64> {
    let count = parse_size(text)?;
    (count > 0).then_some(count)
}

/// Parses a byte count with an optional binary suffix; refuses zero,
/// overflow and anything but digits before the suffix.
fn parse_size(text: &str) -> Option<u64> {
    let (digits, shift) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 10),
        b'm' | b'M' => (&text[..text.len() - 1], 20),
        b'g' | b'G' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number: u64 = digits.parse().ok()?;
    let size = number.checked_mul(1 << shift)?;
    (size > 0).then_some(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn parsed(text: &str) -> Result<Options, OptionError<'_>> {
        let mut options = Options::defaults(8 * GIB);
        options.apply(text).map(|()| options)
    }

    #[test]
    fn defaults_take_a_quarter_of_memory() {
        let options = Options::defaults(8 * GIB);
        assert_eq!(options.limits.max_bytes, 2 * GIB);
        assert_eq!(options.limits.max_keys, 2 * GIB / 1024);
        assert_eq!(options.limits.max_value, 16 << 20);
        assert_eq!(options.mode, 0o1777);
    }

    #[test]
    fn defaults_on_a_tiny_machine_stay_consistent() {
        let options = Options::defaults(1 << 20);
        assert!(options.limits.max_value <= options.limits.max_bytes);
        assert!(options.limits.max_keys >= 1);
    }

    #[test]
    fn an_empty_string_keeps_the_defaults() {
        assert_eq!(parsed(""), Ok(Options::defaults(8 * GIB)));
    }

    #[test]
    fn every_option_is_parsed() {
        let options = parsed("mode=700,uid=1000,gid=100,max_keys=5,max_bytes=2m,max_value=1k");
        assert_eq!(
            options,
            Ok(Options {
                mode: 0o700,
                uid: 1000,
                gid: 100,
                limits: Limits {
                    max_keys: 5,
                    max_bytes: 2 << 20,
                    max_value: 1024,
                },
            })
        );
    }

    #[test]
    fn size_suffixes_are_binary_and_either_case() {
        assert_eq!(parse_size("1k"), Some(1024));
        assert_eq!(parse_size("3M"), Some(3 << 20));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_count("2k"), Some(2048));
    }

    #[test]
    fn malformed_sizes_are_refused() {
        for text in [
            "",
            "k",
            "-1",
            "1.5m",
            "1kb",
            "0",
            "0k",
            "99999999999999999999",
            "17179869184g",
        ] {
            assert_eq!(parse_size(text), None, "{text:?}");
        }
    }

    #[test]
    fn an_unknown_option_is_named() {
        assert_eq!(
            parsed("mode=755,size=1m"),
            Err(OptionError::Unknown("size"))
        );
    }

    #[test]
    fn a_malformed_option_is_named() {
        assert_eq!(
            parsed("max_keys=lots"),
            Err(OptionError::Malformed("max_keys=lots"))
        );
        assert_eq!(parsed("mode=8"), Err(OptionError::Malformed("mode=8")));
        assert_eq!(
            parsed("mode=17777"),
            Err(OptionError::Malformed("mode=17777"))
        );
        assert_eq!(parsed("uid=-1"), Err(OptionError::Malformed("uid=-1")));
        assert_eq!(
            parsed("gid=4294967295"),
            Err(OptionError::Malformed("gid=4294967295"))
        );
        assert_eq!(parsed("max_keys"), Err(OptionError::Malformed("max_keys")));
    }

    #[test]
    fn a_repeated_option_takes_its_last_value() {
        assert_eq!(
            parsed("max_keys=1,max_keys=9").map(|o| o.limits.max_keys),
            Ok(9)
        );
    }

    #[test]
    fn a_value_limit_above_the_byte_limit_conflicts() {
        assert!(matches!(
            parsed("max_bytes=1k,max_value=2k"),
            Err(OptionError::Conflict(_))
        ));
    }

    #[test]
    fn a_small_max_bytes_alone_lowers_max_value_with_it() {
        let options = parsed("max_bytes=1m").unwrap();
        assert_eq!(options.limits.max_value, 1 << 20);
        let options = parsed("max_bytes=1g").unwrap();
        assert_eq!(options.limits.max_value, 16 << 20);
    }

    #[test]
    fn a_refused_string_changes_nothing() {
        let mut options = Options::defaults(8 * GIB);
        assert!(options.apply("max_keys=3,bogus=1").is_err());
        assert_eq!(options, Options::defaults(8 * GIB));
    }

    #[test]
    fn the_text_form_parses_back_to_the_same_options() {
        let options =
            parsed("mode=1750,uid=7,gid=8,max_keys=10,max_bytes=3g,max_value=1000").unwrap();
        let text = format!("{options}");
        assert_eq!(
            text,
            ",mode=1750,uid=7,gid=8,max_keys=10,max_bytes=3g,max_value=1000"
        );
        assert_eq!(parsed(&text[1..]), Ok(options));
    }
}
