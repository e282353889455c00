//! The weather: partitions, lost acknowledgements, held traffic, loss bursts, latency and
//! gateway crashes between the sites and the gateway, all drawn from the seed.

use std::collections::BTreeMap;
use std::time::Duration;

use super::workload::Rng;
use super::{GATEWAY, SITES, verbose};

/// The network's misbehaviour over time, all drawn from the seed.
pub(crate) struct Weather {
    pub(crate) rng: Rng,
    /// Per site: when its current partition, hold or loss ends.
    pub(crate) until: BTreeMap<&'static str, (Duration, Fault)>,
    pub(crate) gateway_down_until: Option<Duration>,
    pub(crate) applied: u64,
    pub(crate) crashes: u64,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Fault {
    /// Nothing gets through either way; what was in flight is lost.
    Partition,
    /// Requests reach the gateway, its answers are lost: stored but never acknowledged.
    AckLoss,
    /// Everything waits on the link, then arrives at once (after other links' traffic).
    Hold,
    /// Random bursts of lost segments.
    Loss,
}

impl Weather {
    /// One decision step at simulated time `now`.
    pub(crate) fn step(&mut self, sim: &mut turmoil::Sim<'_>, now: Duration) {
        for (site, _, _) in SITES {
            if let Some((end, fault)) = self.until.get(site).copied() {
                if now >= end {
                    heal(sim, site, fault);
                    self.until.remove(site);
                    self.applied += 1;
                }
                continue;
            }
            if !self.rng.chance(6) {
                continue;
            }
            let fault =
                *self
                    .rng
                    .pick(&[Fault::Partition, Fault::AckLoss, Fault::Hold, Fault::Loss]);
            let length = match fault {
                Fault::Partition | Fault::AckLoss => self.rng.millis(200..8000),
                Fault::Hold => self.rng.millis(50..3000),
                Fault::Loss => self.rng.millis(500..5000),
            };
            match fault {
                Fault::Partition => sim.partition(site, GATEWAY),
                Fault::AckLoss => sim.partition_oneway(GATEWAY, site),
                Fault::Hold => sim.hold(site, GATEWAY),
                Fault::Loss => {
                    let rate = self.rng.range(1..6) as f64 / 100.0;
                    sim.set_link_fail_rate(site, GATEWAY, rate);
                }
            }
            if verbose() {
                eprintln!("t={:?} {site} {fault:?} for {length:?}", now);
            }
            self.until.insert(site, (now + length, fault));
            self.applied += 1;
        }
        if self.rng.chance(3) {
            let (low, high) = (self.rng.range(0..20), self.rng.range(20..200));
            let site = self.rng.pick(&SITES).0;
            sim.set_link_latency(site, GATEWAY, Duration::from_millis(low));
            sim.set_link_max_message_latency(site, GATEWAY, Duration::from_millis(high));
            self.applied += 1;
        }
        match self.gateway_down_until {
            Some(end) if now >= end => {
                sim.bounce(GATEWAY);
                self.gateway_down_until = None;
                self.applied += 1;
            }
            None if self.rng.range(0..1000) < 5 => {
                sim.crash(GATEWAY);
                self.crashes += 1;
                self.gateway_down_until = Some(now + self.rng.millis(100..3000));
                self.applied += 1;
            }
            _ => {}
        }
    }

    /// Heals everything: links repaired, held traffic released, no loss, gateway up.
    pub(crate) fn clear(&mut self, sim: &mut turmoil::Sim<'_>) {
        for (site, _, _) in SITES {
            if let Some((_, fault)) = self.until.remove(site) {
                heal(sim, site, fault);
            }
        }
        if self.gateway_down_until.take().is_some() {
            sim.bounce(GATEWAY);
        }
    }
}

pub(crate) fn heal(sim: &mut turmoil::Sim<'_>, site: &str, fault: Fault) {
    match fault {
        Fault::Partition => sim.repair(site, GATEWAY),
        Fault::AckLoss => sim.repair_oneway(GATEWAY, site),
        Fault::Hold => sim.release(site, GATEWAY),
        Fault::Loss => {
            sim.set_link_fail_rate(site, GATEWAY, 0.0);
            // A random partition from loss may still stand; repair it too.
            sim.repair(site, GATEWAY);
        }
    }
}
