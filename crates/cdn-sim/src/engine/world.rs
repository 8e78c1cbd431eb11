//! `[[event]]`s: the world changes mid-run (the origin goes down, a node hangs, a deploy, a
//! new cache rule). Requests in flight keep the deadlines they were given.

use super::Engine;
use cdn_core::NodeSettings;

impl Engine<'_> {
    /// The `i`-th event takes effect.
    pub(super) fn apply_world(&mut self, i: usize) {
        let e = &self.scenario.events[i];
        if e.origin != *self.origin.config() {
            self.origin.reconfigure(self.now, e.origin.clone());
            self.hostname = e.origin.hostname.clone();
            // The origin restarted or changed: pooled connections to it are gone.
            for n in self.l1.iter_mut().chain(self.l2.iter_mut()) {
                n.drop_connections();
            }
        }
        let settings = NodeSettings::new(&e.cdn, self.profile);
        for n in self.l1.iter_mut().chain(self.l2.iter_mut()) {
            n.configure(settings.clone());
        }
        for (node, cfg) in self.l2.iter_mut().zip(&e.cdn.l2) {
            node.set_state(cfg.state);
        }
        self.url_shapes = self.shapes();
        self.net = e.network;
        self.one_way = super::OneWay::new(&e.network);
    }
}
