//! The requests a node is handling, by ticket.
//!
//! Exchanges live in a slab reused last-freed-first, found through a small ticket → slot
//! index. A hash map holding the ~200-byte exchanges themselves scatters them over a table
//! sized for the most ever in flight, so each new one is written to a cold cache line; here
//! the index entries are small and the exchange just freed (still in cache) takes the next
//! request.
//!
//! Tickets below [`DENSE_TICKETS`] are looked up in a plain array indexed by the ticket:
//! the simulator's tickets are its slot numbers, small and reused, so every lookup is one
//! load instead of a hash-table probe (the probes were ~4 % of the standard workload's
//! instructions). Larger tickets (a driver that counts its requests up without end) use a
//! hash map; no caller can tell the two apart.

use super::action::Ticket;
use super::exchange::Exchange;
use crate::cache::KeyBuildHasher;
use std::collections::HashMap;

/// Tickets below this are indexed directly: at most 4 bytes each per node (1 MiB for a
/// driver that reaches it), grown only as far as the largest ticket seen.
const DENSE_TICKETS: u64 = 1 << 18;

/// An empty entry of the dense index.
const VACANT: u32 = u32::MAX;

/// Exchanges by ticket (the subset of `HashMap`'s interface the request flow uses).
#[derive(Debug, Default)]
pub(crate) struct Exchanges {
    /// Slab position by ticket, for tickets below [`DENSE_TICKETS`]; [`VACANT`] if none.
    dense: Vec<u32>,
    /// Slab position by ticket, for the others.
    sparse: HashMap<Ticket, u32, KeyBuildHasher>,
    slab: Vec<Exchange>,
    free: Vec<u32>,
    /// How many tickets have an exchange.
    len: usize,
}

impl Exchanges {
    /// The slab position of `ticket`'s exchange, if it has one.
    #[inline]
    fn position(&self, ticket: Ticket) -> Option<u32> {
        if ticket < DENSE_TICKETS {
            match self.dense.get(ticket as usize) {
                Some(&i) if i != VACANT => Some(i),
                _ => None,
            }
        } else {
            self.sparse.get(&ticket).copied()
        }
    }

    /// Stores a copy of `ex` under `ticket`, replacing what was there. Borrowed, so the
    /// ~170-byte exchange is copied once, into its slot (by value it was copied into the
    /// argument first).
    pub(crate) fn insert(&mut self, ticket: Ticket, ex: &Exchange) {
        if let Some(i) = self.position(ticket) {
            self.slab[i as usize] = *ex;
            return;
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = *ex;
                i
            }
            None => {
                self.slab.push(*ex);
                (self.slab.len() - 1) as u32
            }
        };
        if ticket < DENSE_TICKETS {
            let t = ticket as usize;
            if t >= self.dense.len() {
                self.dense.resize(t + 1, VACANT);
            }
            self.dense[t] = i;
        } else {
            self.sparse.insert(ticket, i);
        }
        self.len += 1;
    }

    /// Forgets `ticket`'s slab position and frees the slot (its exchange stays readable
    /// until the slot is reused).
    #[inline]
    fn release(&mut self, ticket: Ticket) -> Option<u32> {
        let i = if ticket < DENSE_TICKETS {
            let entry = self.dense.get_mut(ticket as usize)?;
            if *entry == VACANT {
                return None;
            }
            std::mem::replace(entry, VACANT)
        } else {
            self.sparse.remove(&ticket)?
        };
        self.len -= 1;
        self.free.push(i);
        Some(i)
    }

    /// Takes the exchange of `ticket` out.
    pub(crate) fn remove(&mut self, ticket: &Ticket) -> Option<Exchange> {
        let i = self.release(*ticket)?;
        Some(self.slab[i as usize])
    }

    /// Drops the exchange of `ticket`, if any, without copying it out (a caller that has
    /// already read it).
    pub(crate) fn discard(&mut self, ticket: Ticket) {
        self.release(ticket);
    }

    /// The exchange of `ticket`.
    pub(crate) fn get(&self, ticket: &Ticket) -> Option<&Exchange> {
        self.position(*ticket).map(|i| &self.slab[i as usize])
    }

    /// The exchange of `ticket`, to change in place.
    pub(crate) fn get_mut(&mut self, ticket: &Ticket) -> Option<&mut Exchange> {
        self.position(*ticket).map(|i| &mut self.slab[i as usize])
    }

    /// Whether `ticket` has an exchange.
    pub(crate) fn contains_key(&self, ticket: &Ticket) -> bool {
        self.position(*ticket).is_some()
    }

    /// How many exchanges there are.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Request;
    use crate::node::action::Peer;
    use crate::time::Instant;

    fn ex(at_ms: u64) -> Exchange {
        Exchange::new(
            Request::get(crate::message::CacheKey(at_ms)),
            Instant(at_ms),
            Peer::Origin,
        )
    }

    /// Behaves as a map: insert replaces, remove takes, freed slots are reused without
    /// mixing tickets up.
    #[test]
    fn tickets_find_their_own_exchange_through_reuse() {
        let mut m = Exchanges::default();
        m.insert(7, &ex(1));
        m.insert(9, &ex(2));
        m.insert(7, &ex(3));
        assert_eq!(m.len(), 2);
        assert_eq!(m.get(&7).map(|e| e.sent_at), Some(Instant(3)));
        assert_eq!(m.remove(&7).map(|e| e.sent_at), Some(Instant(3)));
        assert!(m.remove(&7).is_none());
        assert!(!m.contains_key(&7));
        m.insert(11, &ex(4));
        assert_eq!(m.slab.len(), 2, "the freed slot is reused");
        assert_eq!(m.get(&9).map(|e| e.sent_at), Some(Instant(2)));
        assert_eq!(m.get(&11).map(|e| e.sent_at), Some(Instant(4)));
        m.get_mut(&11).expect("present").sent_at = Instant(5);
        assert_eq!(m.remove(&11).map(|e| e.sent_at), Some(Instant(5)));
        assert_eq!(m.len(), 1);
    }

    /// Tickets past the dense index behave the same, beside small ones.
    #[test]
    fn large_tickets_share_the_slab_with_small_ones() {
        let mut m = Exchanges::default();
        let big = DENSE_TICKETS + 5;
        m.insert(big, &ex(1));
        m.insert(3, &ex(2));
        m.insert(u64::MAX, &ex(3));
        assert_eq!(m.len(), 3);
        assert!(
            m.dense.len() <= 4,
            "only as far as the largest small ticket"
        );
        assert_eq!(m.get(&big).map(|e| e.sent_at), Some(Instant(1)));
        assert_eq!(m.remove(&big).map(|e| e.sent_at), Some(Instant(1)));
        assert!(!m.contains_key(&big));
        assert!(m.remove(&big).is_none());
        assert!(
            m.remove(&4).is_none(),
            "never inserted, inside the dense index"
        );
        assert!(m.remove(&(DENSE_TICKETS - 1)).is_none(), "beyond its end");
        m.insert(DENSE_TICKETS - 1, &ex(4));
        assert_eq!(m.slab.len(), 3, "the freed slot is reused");
        assert_eq!(m.get(&u64::MAX).map(|e| e.sent_at), Some(Instant(3)));
        assert_eq!(m.get(&3).map(|e| e.sent_at), Some(Instant(2)));
        assert_eq!(m.len(), 3);
    }
}
