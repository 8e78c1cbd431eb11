//! The requests a node is handling, by ticket.
//!
//! Exchanges live in a slab reused last-freed-first, found through a small ticket → slot
//! index. A hash map holding the ~200-byte exchanges themselves scatters them over a table
//! sized for the most ever in flight, so each new one is written to a cold cache line; here
//! the index entries are 16 bytes and the exchange just freed (still in cache) takes the next
//! request.

use super::action::Ticket;
use super::exchange::Exchange;
use crate::cache::KeyBuildHasher;
use std::collections::HashMap;

/// Exchanges by ticket (the subset of `HashMap`'s interface the request flow uses).
#[derive(Debug, Default)]
pub(crate) struct Exchanges {
    index: HashMap<Ticket, u32, KeyBuildHasher>,
    slab: Vec<Exchange>,
    free: Vec<u32>,
}

impl Exchanges {
    /// Stores `ex` under `ticket`, replacing what was there.
    pub(crate) fn insert(&mut self, ticket: Ticket, ex: Exchange) {
        if let Some(&i) = self.index.get(&ticket) {
            self.slab[i as usize] = ex;
            return;
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = ex;
                i
            }
            None => {
                self.slab.push(ex);
                (self.slab.len() - 1) as u32
            }
        };
        self.index.insert(ticket, i);
    }

    /// Takes the exchange of `ticket` out.
    pub(crate) fn remove(&mut self, ticket: &Ticket) -> Option<Exchange> {
        let i = self.index.remove(ticket)?;
        self.free.push(i);
        Some(self.slab[i as usize])
    }

    /// The exchange of `ticket`.
    pub(crate) fn get(&self, ticket: &Ticket) -> Option<&Exchange> {
        self.index.get(ticket).map(|&i| &self.slab[i as usize])
    }

    /// The exchange of `ticket`, to change in place.
    pub(crate) fn get_mut(&mut self, ticket: &Ticket) -> Option<&mut Exchange> {
        self.index.get(ticket).map(|&i| &mut self.slab[i as usize])
    }

    /// Whether `ticket` has an exchange.
    pub(crate) fn contains_key(&self, ticket: &Ticket) -> bool {
        self.index.contains_key(ticket)
    }

    /// How many exchanges there are.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
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
        m.insert(7, ex(1));
        m.insert(9, ex(2));
        m.insert(7, ex(3));
        assert_eq!(m.len(), 2);
        assert_eq!(m.get(&7).map(|e| e.sent_at), Some(Instant(3)));
        assert_eq!(m.remove(&7).map(|e| e.sent_at), Some(Instant(3)));
        assert!(m.remove(&7).is_none());
        assert!(!m.contains_key(&7));
        m.insert(11, ex(4));
        assert_eq!(m.slab.len(), 2, "the freed slot is reused");
        assert_eq!(m.get(&9).map(|e| e.sent_at), Some(Instant(2)));
        assert_eq!(m.get(&11).map(|e| e.sent_at), Some(Instant(4)));
        m.get_mut(&11).expect("present").sent_at = Instant(5);
        assert_eq!(m.remove(&11).map(|e| e.sent_at), Some(Instant(5)));
        assert_eq!(m.len(), 1);
    }
}
