//! IPv4 address specifications: single addresses, CIDR blocks, ranges and `any`.
//!
//! Used for back-to-origin egress pools and for origin firewall rules. Only IPv4: the
//! back-to-origin pools this project models (and the loopback range the network mode uses)
//! are IPv4.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// One entry of an address list: `"127.0.1.1"`, `"127.0.1.0/28"`, `"127.0.1.1-127.0.1.10"`
/// or `"any"`.
///
/// ```
/// use cdn_core::AddrSpec;
/// use std::net::Ipv4Addr;
/// let block: AddrSpec = "127.0.1.0/30".parse().unwrap();
/// assert!(block.contains(Ipv4Addr::new(127, 0, 1, 3)));
/// assert_eq!(block.addresses().count(), 4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddrSpec {
    /// Every address.
    Any,
    /// The inclusive range `first..=last`.
    Range {
        /// First address in the range.
        first: Ipv4Addr,
        /// Last address in the range (inclusive).
        last: Ipv4Addr,
    },
}

/// The accepted address forms, for error messages.
pub const ADDR_FORMS: &str =
    "an IPv4 address \"127.0.1.1\", a CIDR block \"127.0.1.0/28\", a range \"127.0.1.1-127.0.1.10\", or \"any\"";

/// Why an address specification was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid address {input:?}: expected {}", ADDR_FORMS)]
pub struct AddrError {
    /// The rejected input.
    pub input: String,
}

impl AddrSpec {
    /// A single address.
    pub fn single(ip: Ipv4Addr) -> AddrSpec {
        AddrSpec::Range {
            first: ip,
            last: ip,
        }
    }

    /// The CIDR block `base/prefix` (host bits of `base` are ignored).
    pub fn cidr(base: Ipv4Addr, prefix: u8) -> AddrSpec {
        let (first, last) = cidr_bounds(u32::from(base), prefix);
        AddrSpec::Range {
            first: first.into(),
            last: last.into(),
        }
    }

    /// Whether `ip` is covered.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        match *self {
            AddrSpec::Any => true,
            AddrSpec::Range { first, last } => first <= ip && ip <= last,
        }
    }

    /// The addresses covered, in ascending order (`any` yields nothing: it is not a pool).
    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> {
        let (a, b) = match *self {
            AddrSpec::Any => (1u64, 0u64),
            AddrSpec::Range { first, last } => (u32::from(first) as u64, u32::from(last) as u64),
        };
        (a..=b).map(|n| Ipv4Addr::from(n as u32))
    }

    /// How many addresses are covered (`any` counts 2^32).
    pub fn len(&self) -> u64 {
        match *self {
            AddrSpec::Any => 1 << 32,
            AddrSpec::Range { first, last } => u32::from(last) as u64 - u32::from(first) as u64 + 1,
        }
    }

    /// Never true: every specification covers at least one address.
    pub fn is_empty(&self) -> bool {
        false
    }
}

fn cidr_bounds(base: u32, prefix: u8) -> (u32, u32) {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (base & mask, (base & mask) | !mask)
}

impl FromStr for AddrSpec {
    type Err = AddrError;
    fn from_str(s: &str) -> Result<AddrSpec, AddrError> {
        let err = || AddrError {
            input: s.to_string(),
        };
        let s = s.trim();
        if s == "any" {
            return Ok(AddrSpec::Any);
        }
        if let Some((base, prefix)) = s.split_once('/') {
            let base: Ipv4Addr = base.parse().map_err(|_| err())?;
            let prefix: u8 = prefix.parse().map_err(|_| err())?;
            if prefix > 32 {
                return Err(err());
            }
            return Ok(AddrSpec::cidr(base, prefix));
        }
        if let Some((a, b)) = s.split_once('-') {
            let first: Ipv4Addr = a.trim().parse().map_err(|_| err())?;
            let last: Ipv4Addr = b.trim().parse().map_err(|_| err())?;
            if first > last {
                return Err(err());
            }
            return Ok(AddrSpec::Range { first, last });
        }
        s.parse().map(AddrSpec::single).map_err(|_| err())
    }
}

impl fmt::Display for AddrSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AddrSpec::Any => f.write_str("any"),
            AddrSpec::Range { first, last } if first == last => write!(f, "{first}"),
            AddrSpec::Range { first, last } => {
                let blocks = range_to_cidrs(first, last);
                if blocks.len() == 1 {
                    write!(f, "{}", blocks[0])
                } else {
                    write!(f, "{first}-{last}")
                }
            }
        }
    }
}

/// A CIDR block such as `127.0.1.0/28`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    /// The network address.
    pub base: Ipv4Addr,
    /// The prefix length, 0..=32.
    pub prefix: u8,
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// The fewest CIDR blocks that cover exactly `first..=last`.
pub fn range_to_cidrs(first: Ipv4Addr, last: Ipv4Addr) -> Vec<Cidr> {
    let (mut lo, hi) = (u32::from(first) as u64, u32::from(last) as u64);
    let mut out = Vec::new();
    while lo <= hi {
        // Largest aligned block starting at `lo` that does not pass `hi`.
        let mut size = if lo == 0 {
            1u64 << 32
        } else {
            1u64 << lo.trailing_zeros().min(32)
        };
        while lo + size - 1 > hi {
            size >>= 1;
        }
        out.push(Cidr {
            base: Ipv4Addr::from(lo as u32),
            prefix: 32 - size.trailing_zeros() as u8,
        });
        lo += size;
    }
    out
}

/// The fewest CIDR blocks that cover exactly the given addresses (any order, duplicates allowed).
///
/// ```
/// use std::net::Ipv4Addr;
/// let ips: Vec<Ipv4Addr> = (1..=6).map(|i| Ipv4Addr::new(127, 0, 1, i)).collect();
/// let blocks: Vec<String> = cdn_core::addr::to_cidrs(ips).iter().map(|c| c.to_string()).collect();
/// assert_eq!(blocks, ["127.0.1.1/32", "127.0.1.2/31", "127.0.1.4/31", "127.0.1.6/32"]);
/// ```
pub fn to_cidrs(addrs: impl IntoIterator<Item = Ipv4Addr>) -> Vec<Cidr> {
    let mut v: Vec<u32> = addrs.into_iter().map(u32::from).collect();
    v.sort_unstable();
    v.dedup();
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        out.extend(range_to_cidrs(v[i].into(), v[j].into()));
        i = j + 1;
    }
    out
}

impl serde::Serialize for AddrSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for AddrSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<AddrSpec, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_every_documented_form() {
        assert_eq!("any".parse::<AddrSpec>().unwrap(), AddrSpec::Any);
        assert_eq!(
            "127.0.1.1".parse::<AddrSpec>().unwrap(),
            AddrSpec::single(ip("127.0.1.1"))
        );
        let r: AddrSpec = "127.0.1.1-127.0.1.10".parse().unwrap();
        assert_eq!(r.len(), 10);
        let c: AddrSpec = "127.0.1.0/28".parse().unwrap();
        assert_eq!(c.len(), 16);
        assert!(c.contains(ip("127.0.1.15")) && !c.contains(ip("127.0.1.16")));
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "127.0.1",
            "127.0.1.1/33",
            "127.0.1.9-127.0.1.1",
            "localhost",
            "",
        ] {
            let e = bad.parse::<AddrSpec>().unwrap_err();
            assert!(e.to_string().contains("CIDR"), "{e}");
        }
    }

    #[test]
    fn cidr_cover_is_exact_and_minimal() {
        let blocks = range_to_cidrs(ip("127.0.1.0"), ip("127.0.1.255"));
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].to_string(), "127.0.1.0/24");
        let blocks = to_cidrs([ip("10.0.0.1"), ip("10.0.0.3")]);
        assert_eq!(blocks.len(), 2);
        let all = range_to_cidrs(ip("0.0.0.0"), ip("255.255.255.255"));
        assert_eq!(all[0].to_string(), "0.0.0.0/0");
    }
}
