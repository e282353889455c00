//! The growth mode's steps at one store size: fill to the size through the push RPC, then
//! ingest, Fetch, a new site's snapshot, catch-up and disk.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hotline_federation::calendar::{civil_date, days_from_civil};
use hotline_federation::ids::PublicNumber;
use hotline_federation::model::{EntityKey, EntityKind};
use hotline_proto::v1 as pb;
use pb::federation_client::FederationClient;
use tonic::transport::Channel;

use super::super::load::SiteLoad;
use super::super::measure::{SITES, closed_loop, percentile};
use super::super::server::ServerProcess;
use super::{GrowthOptions, SizePoint, sites};

/// Changes per push while filling (the gateway's default push limit).
const FILL_BATCH: usize = 512;
/// Changes per push of the ingest figure (as `hotline bench`).
const INGEST_BATCH: usize = 64;
/// Timed ingest runs at each size (and on the empty store): their median is the figure, so
/// one run disturbed by the machine or by the gateway's own background work (the audit
/// verify at start and every ten minutes) does not decide the ratio between sizes.
pub(super) const INGEST_TRIALS: usize = 3;

/// The four writers that fill the store, one connection each.
pub(super) struct Fill {
    writers: Vec<(FederationClient<Channel>, SiteLoad)>,
    /// Comments each ticket gets.
    comments: u64,
}

impl Fill {
    /// Connects the four bench sites, each giving its tickets `comments` comments.
    pub(super) async fn start(server: &ServerProcess, comments: u64) -> anyhow::Result<Fill> {
        let mut writers = Vec::new();
        for (site, tenant) in SITES {
            let mut client = server.client(site).await?;
            let load = SiteLoad::new(&mut client, site, tenant, 10_000)
                .await?
                .with_comments(comments);
            writers.push((client, load));
        }
        Ok(Fill { writers, comments })
    }

    /// Tickets opened so far over all writers.
    pub(super) fn tickets(&self) -> u64 {
        self.writers
            .iter()
            .map(|(_, l)| l.opened().len() as u64)
            .sum()
    }

    /// The years of the numbers of the tickets opened so far, ascending.
    pub(super) fn years(&self) -> Vec<u32> {
        let years: std::collections::BTreeSet<u32> = self
            .writers
            .iter()
            .flat_map(|(_, load)| load.opened())
            .filter_map(|id| PublicNumber::parse("ticket", id).ok())
            .map(|number| number.year)
            .collect();
        years.into_iter().collect()
    }

    /// Connects the writers to `server`, the gateway restarted in a new year: each keeps its
    /// tickets and sequence numbers and gives up the old year's numbers it has not used, so
    /// the tickets after the turn are numbered in the new year.
    pub(super) async fn turn_year(&mut self, server: &ServerProcess) -> anyhow::Result<()> {
        for (client, load) in &mut self.writers {
            *client = server.client(&load.site).await?;
            load.forget_unopened();
        }
        Ok(())
    }

    /// Pushes until `target` tickets are open, from all writers at once, printing progress.
    pub(super) async fn to(&mut self, target: u64) -> anyhow::Result<()> {
        let missing = target.saturating_sub(self.tickets());
        let share = missing.div_ceil(self.writers.len() as u64);
        let opened = Arc::new(AtomicU64::new(self.tickets()));
        let done = Arc::new(AtomicBool::new(false));
        let progress = {
            let (opened, done) = (opened.clone(), done.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                while !done.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    eprintln!(
                        "  filling: {} of {target} tickets after {:.0} s",
                        opened.load(Ordering::Relaxed),
                        started.elapsed().as_secs_f64()
                    );
                }
            })
        };
        let mut tasks = Vec::new();
        let per_ticket = self.comments as usize + 1;
        for (mut client, mut load) in std::mem::take(&mut self.writers) {
            let opened = opened.clone();
            tasks.push(tokio::spawn(async move {
                let goal = load.opened().len() as u64 + share;
                while (load.opened().len() as u64) < goal {
                    load.refill(&mut client).await?;
                    let before = load.opened().len() as u64;
                    // No more than the tickets still missing (their comments included).
                    let n = FILL_BATCH.min((goal - before) as usize * per_ticket);
                    let answer = client.push(load.batch(n)).await?.into_inner();
                    opened.fetch_add(load.opened().len() as u64 - before, Ordering::Relaxed);
                    accepted(&answer)?;
                }
                anyhow::Ok((client, load))
            }));
        }
        let mut result = Ok(());
        for task in tasks {
            match task.await? {
                Ok(writer) => self.writers.push(writer),
                Err(e) => result = Err(e),
            }
        }
        done.store(true, Ordering::Relaxed);
        progress.abort();
        result
    }
}

/// How far a gateway's clock must run ahead of the system's (`now_ms`) to stand at one in the
/// morning (UTC) of the January 1st after the year it stands in with `offset_ms`.
pub(super) fn next_year_offset(now_ms: u64, offset_ms: i64) -> i64 {
    let (year, _, _) = civil_date(now_ms.saturating_add_signed(offset_ms));
    let january = days_from_civil(year + 1, 1, 1) * 86_400_000 + 3_600_000;
    january - now_ms as i64
}

/// An error if any change of a push's answer was refused.
fn accepted(answer: &pb::PushResponse) -> anyhow::Result<()> {
    for result in &answer.results {
        match &result.outcome {
            Some(pb::change_result::Outcome::Accepted(_)) => {}
            other => anyhow::bail!("a fill change was refused: {other:?}"),
        }
    }
    Ok(())
}

/// Fills to `size` tickets and measures there.
pub(super) async fn at_size(
    server: &ServerProcess,
    fill: &mut Fill,
    size: u64,
    options: &GrowthOptions,
) -> anyhow::Result<SizePoint> {
    let started = Instant::now();
    fill.to(size).await?;
    let fill_seconds = started.elapsed().as_secs_f64();
    let tickets = fill.tickets();
    eprintln!("{tickets} tickets after {fill_seconds:.1} s of filling");
    let disk_bytes = dir_bytes(&server.dir.join("gateway"))?;

    let (fetch_p50_ms, fetch_p99_ms, fetches) = fetch(server, fill, options.seconds).await?;
    eprintln!("  Fetch p99 {fetch_p99_ms:.2} ms over {fetches} fetches");

    let snapshot = new_site(server, 0).await?;
    eprintln!(
        "  new site: {:.2} s, peak RSS {:.1} MiB",
        snapshot.seconds, snapshot.peak_rss_mib
    );
    let behind = options.catch_up.min(snapshot.head.saturating_sub(1)).max(1);
    let catch_up = new_site(server, snapshot.head - behind).await?;
    let catch_up_rate = behind as f64 / catch_up.seconds;
    eprintln!("  catch-up of {behind} changes: {catch_up_rate:.0} changes/s");

    // Ingest last: the tickets it opens are not part of this size's other figures.
    let ingest_trials = fill.ingest(options.seconds, INGEST_TRIALS).await?;
    let ingest = median(&ingest_trials);
    eprintln!("  ingest {ingest:.0} changes/s (median of {ingest_trials:.0?})");

    Ok(SizePoint {
        tickets,
        fill_seconds,
        ingest_changes_per_s: ingest,
        ingest_trials,
        fetch_p50_ms,
        fetch_p99_ms,
        fetches,
        snapshot_seconds: snapshot.seconds,
        snapshot_items: snapshot.items,
        snapshot_as_snapshot: snapshot.as_snapshot,
        rss_before_snapshot_mib: snapshot.rss_before_mib,
        snapshot_peak_rss_mib: snapshot.peak_rss_mib,
        catch_up_changes: behind,
        catch_up_changes_per_s: catch_up_rate,
        disk_bytes,
        disk_bytes_per_ticket: disk_bytes as f64 / tickets.max(1) as f64,
    })
}

impl Fill {
    /// Four-site ingest on top of what the store holds, `runs` runs of `seconds` each,
    /// changes/s per run.
    pub(super) async fn ingest(&mut self, seconds: f64, runs: usize) -> anyhow::Result<Vec<f64>> {
        let mut rates = Vec::with_capacity(runs);
        for _ in 0..runs {
            let writers = std::mem::take(&mut self.writers);
            let (rate, _, _, writers) = closed_loop(writers, INGEST_BATCH, seconds, true).await?;
            self.writers = writers;
            rates.push(rate);
        }
        Ok(rates)
    }
}

/// The median of `values` (the mean of the middle two for an even count; 0 for none).
pub(super) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// One-key Fetches of random open tickets for `seconds`, one at a time: (p50, p99, count).
async fn fetch(
    server: &ServerProcess,
    fill: &Fill,
    seconds: f64,
) -> anyhow::Result<(f64, f64, usize)> {
    let ids: Vec<&String> = fill.writers.iter().flat_map(|(_, l)| l.opened()).collect();
    anyhow::ensure!(!ids.is_empty(), "no tickets to fetch");
    let mut client = server.client(SITES[2].0).await?;
    let mut random = crate::demo::random::Random::new(20261129);
    let mut latencies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < deadline {
        let id = ids[(random.next_u64() % ids.len() as u64) as usize];
        let key = EntityKey::new(EntityKind::Ticket, id.clone());
        let t0 = Instant::now();
        let answer = client
            .fetch(pb::FetchRequest {
                keys: vec![key.into()],
            })
            .await?
            .into_inner();
        latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(
            answer.states.len() == 1,
            "Fetch of ticket {id} answered {} states, {} absent",
            answer.states.len(),
            answer.absent.len()
        );
    }
    latencies.sort_by(f64::total_cmp);
    Ok((
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.len(),
    ))
}

/// What a site subscribing from a cursor received until its live tail opened.
struct Arrival {
    seconds: f64,
    items: u64,
    as_snapshot: bool,
    head: u64,
    rss_before_mib: f64,
    peak_rss_mib: f64,
}

/// A site (the registered extra site) subscribes from `cursor` and reads until the live tail
/// opens (the gateway's first heartbeat), while the gateway's resident memory is sampled.
async fn new_site(server: &ServerProcess, cursor: u64) -> anyhow::Result<Arrival> {
    let mut client = server.client(&sites::site_id(0)).await?;
    let rss_before_mib = server.rss_bytes()? as f64 / 1048576.0;
    let peak = Arc::new(AtomicU64::new(server.rss_bytes()?));
    let done = Arc::new(AtomicBool::new(false));
    let pid = server.pid();
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Ok(rss) = super::super::server::rss_of(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let started = Instant::now();
    let mut stream = client
        .subscribe(pb::SubscribeRequest { cursor })
        .await?
        .into_inner();
    let (mut items, mut as_snapshot, mut head) = (0u64, false, 0);
    while let Some(event) = stream.message().await? {
        match event.body {
            Some(pb::sync_event::Body::Heartbeat(beat)) => {
                head = beat.head;
                break;
            }
            Some(pb::sync_event::Body::SnapshotBegin(_)) => as_snapshot = true,
            _ => items += 1,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    anyhow::ensure!(
        head > 0,
        "the subscription ended before its live tail opened"
    );
    Ok(Arrival {
        seconds,
        items,
        as_snapshot,
        head,
        rss_before_mib,
        peak_rss_mib: peak.load(Ordering::Relaxed) as f64 / 1048576.0,
    })
}

/// Bytes the files under `dir` take on disk (allocated blocks).
pub(super) fn dir_bytes(dir: &Path) -> anyhow::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.blocks() * 512
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The median takes the middle run whatever the order, and the mean of the middle two
    /// for an even count: one run far off does not move it.
    #[test]
    fn the_median_ignores_one_run_far_off() {
        assert_eq!(median(&[12_000.0, 3_000.0, 11_000.0]), 11_000.0);
        assert_eq!(median(&[3_000.0, 11_000.0, 12_000.0, 90_000.0]), 11_500.0);
        assert_eq!(median(&[7.0]), 7.0);
        assert_eq!(median(&[]), 0.0);
    }

    /// The offset takes the gateway's clock to the next January 1st from wherever it stands,
    /// a second turn goes one more year on, and the year is the calendar's at the edges: half
    /// an hour before midnight on New Year's Eve, and half an hour into January 1st (before
    /// the one o'clock it aims at).
    #[test]
    fn the_next_year_offset_lands_on_the_next_january_first() {
        let now = (days_from_civil(2026, 11, 29) * 86_400_000 + 45_000_000) as u64;
        let first = next_year_offset(now, 0);
        let at = |offset: i64| now.saturating_add_signed(offset);
        assert_eq!(civil_date(at(first)), (2027, 1, 1));
        let second = next_year_offset(now, first);
        assert_eq!(civil_date(at(second)), (2028, 1, 1));
        let eve = (days_from_civil(2027, 1, 1) * 86_400_000 - 1_800_000) as u64;
        assert_eq!(
            civil_date(eve.saturating_add_signed(next_year_offset(eve, 0))),
            (2027, 1, 1)
        );
        let new_year = (days_from_civil(2027, 1, 1) * 86_400_000 + 1_800_000) as u64;
        let turned = new_year.saturating_add_signed(next_year_offset(new_year, 0));
        assert_eq!(civil_date(turned), (2028, 1, 1));
    }
}
