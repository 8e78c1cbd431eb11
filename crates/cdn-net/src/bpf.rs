//! Per-source DROP without privileges: a classic BPF socket filter on the listening socket.
//!
//! A filter attached with `SO_ATTACH_FILTER` runs on every packet the kernel delivers to the
//! socket — for a listener, the SYNs and handshake ACKs. Returning 0 discards the packet
//! before TCP sees it, so a dropped source's SYN is never answered and its `connect()` times
//! out, exactly like a firewall DROP, while other sources connect normally. Accepted
//! connections inherit the filter. socket2's `attach_filter` does the `setsockopt`, so no
//! `unsafe` is needed here.
//!
//! The program loads the IPv4 source address through the ancillary network-header offset
//! (`SKF_NET_OFF + 12`; TCP filters see the packet from the TCP header on) and compares it
//! with each dropped range:
//!
//! ```text
//!     ld  [net + 12]          ; A = source address
//!     jge #first, 0, 2        ; for each dropped range
//!     jgt #last, 1, 0
//!     ret #0                  ;   inside: drop
//!     ...
//!     ret #0xffffffff         ; otherwise: keep the whole packet
//! ```

use socket2::{SockFilter, SockRef};
use std::io;
use std::net::Ipv4Addr;

/// `BPF_LD | BPF_W | BPF_ABS` (0x00 | 0x00 | 0x20).
const BPF_LD_W_ABS: u16 = 0x20;
/// `BPF_JMP | BPF_JGE | BPF_K`.
const BPF_JGE_K: u16 = 0x05 | 0x30;
/// `BPF_JMP | BPF_JGT | BPF_K`.
const BPF_JGT_K: u16 = 0x05 | 0x20;
/// `BPF_RET | BPF_K`.
const BPF_RET_K: u16 = 0x06;
/// `SKF_NET_OFF`: negative offsets from here address the network (IP) header.
const SKF_NET_OFF: u32 = 0xfff0_0000;
/// The IPv4 source address is 12 bytes into the IP header.
const IPV4_SOURCE: u32 = 12;
/// Linux accepts at most this many instructions.
const MAX_INSNS: usize = 4096;

/// The filter program dropping packets whose source is in one of `drops` (inclusive ranges).
pub fn drop_program(drops: &[(Ipv4Addr, Ipv4Addr)]) -> Vec<SockFilter> {
    let mut prog = vec![SockFilter::new(
        BPF_LD_W_ABS,
        0,
        0,
        SKF_NET_OFF + IPV4_SOURCE,
    )];
    for &(first, last) in drops {
        prog.push(SockFilter::new(BPF_JGE_K, 0, 2, u32::from(first)));
        prog.push(SockFilter::new(BPF_JGT_K, 1, 0, u32::from(last)));
        prog.push(SockFilter::new(BPF_RET_K, 0, 0, 0));
    }
    prog.push(SockFilter::new(BPF_RET_K, 0, 0, u32::MAX));
    assert!(
        prog.len() <= MAX_INSNS,
        "{} dropped ranges exceed the BPF program limit",
        drops.len()
    );
    prog
}

/// Attaches (or replaces) the filter dropping `drops` on `socket`.
pub fn attach(socket: SockRef<'_>, drops: &[(Ipv4Addr, Ipv4Addr)]) -> io::Result<()> {
    socket.attach_filter(&drop_program(drops))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_load_three_instructions_per_range_and_a_final_accept() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(drop_program(&[]).len(), 2);
        assert_eq!(
            drop_program(&[
                (ip("127.0.1.1"), ip("127.0.1.1")),
                (ip("10.0.0.0"), ip("10.255.255.255"))
            ])
            .len(),
            8
        );
    }
}
