//! Politeness towards hosts: how many fetches one host serves at once, and Retry-After.
//!
//! Feeds are queued per host and handed out round-robin ([`Queue`]), so a host with two
//! thousand feeds does not hold up the others and is never asked for more than its limit at
//! once. When a host answers 429 or 503 with Retry-After, it is blocked until then
//! ([`Hosts::block`]): its queued feeds wait if the block ends soon (`max_wait`), and are
//! postponed to the time it asked for otherwise, so that a run never hammers a host that
//! asked for a pause, and never sleeps for an hour either.
//!
//! A host that serves many unrelated feeds (an rss-bridge, a feed proxy) can be configured to
//! take Retry-After per feed instead ([`HostRule::separate_waits`]): one throttled feed then
//! waits alone while the host's other feeds carry on.
//!
//! Times are tokio [`Instant`]s, so tests drive them with a paused clock.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use url::Url;

/// Settings for one host, overriding the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostRule {
    /// Fetches this host serves at once (default: the global per-host limit).
    pub concurrency: Option<usize>,
    /// Retry-After applies to the feed that received it, not to every feed of the host.
    pub separate_waits: bool,
}

/// The politeness settings.
#[derive(Debug, Clone)]
pub struct HostsConfig {
    pub per_host: usize,
    /// The longest a queued feed waits for its host's Retry-After to pass within a run.
    pub max_wait: Duration,
    /// The longest a Retry-After is honoured for (a server asking for a year gets this).
    pub max_block: Duration,
    /// Per-host settings, keyed by `host` or `host:port` (lowercase).
    pub rules: HashMap<String, HostRule>,
}

impl Default for HostsConfig {
    fn default() -> Self {
        HostsConfig {
            per_host: 2,
            max_wait: Duration::from_secs(30),
            max_block: Duration::from_secs(24 * 3600),
            rules: HashMap::new(),
        }
    }
}

/// Where a feed lives, for politeness: which host's limit it counts against, and which wait
/// it shares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostKey {
    /// `host` or `host:port`, lowercase; empty for local files (no limit).
    pub host: String,
    /// What a Retry-After blocks: the host, or for hosts with separate waits the feed URL.
    pub wait: String,
}

impl HostKey {
    /// The key of something that is not fetched over the network: no limit, no wait.
    pub fn local() -> HostKey {
        HostKey { host: String::new(), wait: String::new() }
    }
}

#[derive(Debug, Default)]
struct State {
    in_flight: HashMap<String, usize>,
    blocked_until: HashMap<String, Instant>,
}

/// A URL's host as politeness counts it: the host name, lowercase, with the port when it
/// is not the scheme's default.
pub fn host_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// Shared politeness state for one process.
#[derive(Debug)]
pub struct Hosts {
    config: HostsConfig,
    state: Mutex<State>,
    /// Bumped whenever a slot is freed or a pause set: what [`HostWatch`] waits for.
    changes: watch::Sender<u64>,
}

/// Waits for the hosts to change: created before looking at them, so that a change between
/// the look and the wait is not missed.
#[derive(Debug)]
pub struct HostWatch {
    rx: watch::Receiver<u64>,
    /// When the earliest pause in force at creation ends.
    next_unpause: Option<Instant>,
}

impl HostWatch {
    /// Resolves after a slot was freed or a pause set since this watch was made, or when a
    /// pause that was in force then ends.
    pub async fn changed(mut self) {
        let unpause = async {
            match self.next_unpause {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = self.rx.changed() => {
                if changed.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            _ = unpause => {}
        }
    }
}

/// What a host says about fetching from it right now.
#[derive(Debug)]
pub enum Gate {
    Ready(HostPermit),
    /// At its concurrency limit.
    Busy,
    /// Blocked by a Retry-After until then.
    Blocked(Instant),
}

/// One fetch's share of its host's limit; dropping it frees the slot.
#[derive(Debug)]
pub struct HostPermit {
    hosts: Arc<Hosts>,
    host: String,
}

impl Drop for HostPermit {
    fn drop(&mut self) {
        if self.host.is_empty() {
            return;
        }
        let mut state = self.hosts.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = state.in_flight.get_mut(&self.host) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.in_flight.remove(&self.host);
            }
        }
        drop(state);
        self.hosts.changes.send_modify(|n| *n += 1);
    }
}

impl Hosts {
    pub fn new(config: HostsConfig) -> Arc<Hosts> {
        Arc::new(Hosts { config, state: Mutex::new(State::default()), changes: watch::channel(0).0 })
    }

    pub fn config(&self) -> &HostsConfig {
        &self.config
    }

    fn rule(&self, host: &str) -> Option<&HostRule> {
        self.config.rules.get(host).or_else(|| self.config.rules.get(host.split(':').next().unwrap_or(host)))
    }

    fn limit(&self, host: &str) -> usize {
        self.rule(host).and_then(|r| r.concurrency).unwrap_or(self.config.per_host).max(1)
    }

    /// The politeness key of a feed URL.
    pub fn key(&self, url: &Url) -> HostKey {
        let host = host_of(url);
        let separate = self.rule(&host).is_some_and(|r| r.separate_waits);
        let wait = if separate { url.to_string() } else { host.clone() };
        HostKey { host, wait }
    }

    /// Takes a slot of `key`'s host if it has one free and is not blocked.
    pub fn try_acquire(self: &Arc<Self>, key: &HostKey, now: Instant) -> Gate {
        if key.host.is_empty() {
            return Gate::Ready(HostPermit { hosts: self.clone(), host: String::new() });
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&until) = state.blocked_until.get(&key.wait) {
            if until > now {
                return Gate::Blocked(until);
            }
            state.blocked_until.remove(&key.wait);
        }
        let limit = self.limit(&key.host);
        let n = state.in_flight.entry(key.host.clone()).or_insert(0);
        if *n >= limit {
            return Gate::Busy;
        }
        *n += 1;
        Gate::Ready(HostPermit { hosts: self.clone(), host: key.host.clone() })
    }

    /// Blocks `key` (its host, or its feed for hosts with separate waits) for `wait` from
    /// `now`, capped at `max_block`; an earlier block is only ever extended. Returns when
    /// the block ends.
    pub fn block(&self, key: &HostKey, now: Instant, wait: Duration) -> Instant {
        let until = now + wait.min(self.config.max_block);
        if key.wait.is_empty() {
            return until;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let entry = state.blocked_until.entry(key.wait.clone()).or_insert(until);
        if *entry < until {
            *entry = until;
        }
        let until = *entry;
        drop(state);
        self.changes.send_modify(|n| *n += 1);
        until
    }

    /// When `key` is blocked until, if it is.
    pub fn blocked_until(&self, key: &HostKey, now: Instant) -> Option<Instant> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.blocked_until.get(&key.wait).copied().filter(|u| *u > now)
    }

    /// A watch for the next change; make it before looking at the hosts.
    pub fn watch(&self) -> HostWatch {
        let rx = self.changes.subscribe();
        let now = Instant::now();
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let next_unpause = state.blocked_until.values().copied().filter(|u| *u > now).min();
        HostWatch { rx, next_unpause }
    }
}

/// Jobs waiting for their hosts, handed out fairly.
#[derive(Debug)]
pub struct Queue<T> {
    lanes: HashMap<String, VecDeque<(HostKey, T)>>,
    order: VecDeque<String>,
    len: usize,
}

/// What to do next with a [`Queue`].
#[derive(Debug)]
pub enum Next<T> {
    /// Fetch this job now, holding the permit while fetching.
    Run(T, HostPermit),
    /// The job's host (or feed) is blocked longer than `max_wait`: postpone it to then.
    Postpone(T, Instant),
    /// Every queued job waits for its host: try again after a change or at this instant.
    Wait(Option<Instant>),
    /// The queue is empty.
    Done,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue { lanes: HashMap::new(), order: VecDeque::new(), len: 0 }
    }
}

impl<T> Queue<T> {
    /// Adds a job; jobs of one host keep their order.
    pub fn push(&mut self, key: HostKey, job: T) {
        let lane = self.lanes.entry(key.host.clone()).or_default();
        if lane.is_empty() {
            self.order.push_back(key.host.clone());
        }
        lane.push_back((key, job));
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The next job whose host can take it, going round the hosts in turn.
    pub fn next(&mut self, hosts: &Arc<Hosts>, now: Instant) -> Next<T> {
        if self.len == 0 {
            return Next::Done;
        }
        let mut earliest: Option<Instant> = None;
        for _ in 0..self.order.len() {
            let Some(host) = self.order.pop_front() else { break };
            let lane = self.lanes.get_mut(&host).expect("every host in the order has a lane");
            let (key, _) = lane.front().expect("lanes in the order are not empty");
            let outcome = match hosts.try_acquire(key, now) {
                Gate::Ready(permit) => Some(Ok(permit)),
                Gate::Busy => None,
                Gate::Blocked(until) if until.saturating_duration_since(now) <= hosts.config.max_wait => {
                    earliest = Some(earliest.map_or(until, |e| e.min(until)));
                    None
                }
                Gate::Blocked(until) => Some(Err(until)),
            };
            let Some(outcome) = outcome else {
                self.order.push_back(host);
                continue;
            };
            let (_, job) = lane.pop_front().expect("checked above");
            self.len -= 1;
            if lane.is_empty() {
                self.lanes.remove(&host);
            } else {
                self.order.push_back(host);
            }
            return match outcome {
                Ok(permit) => Next::Run(job, permit),
                Err(until) => Next::Postpone(job, until),
            };
        }
        Next::Wait(earliest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(per_host: usize) -> Arc<Hosts> {
        let mut rules = HashMap::new();
        rules.insert("bridge.example".to_string(), HostRule { concurrency: Some(3), separate_waits: true });
        Hosts::new(HostsConfig {
            per_host,
            max_wait: Duration::from_secs(30),
            max_block: Duration::from_secs(3600),
            rules,
        })
    }

    fn key(h: &Hosts, url: &str) -> HostKey {
        h.key(&Url::parse(url).unwrap())
    }

    #[test]
    fn keys_carry_ports_and_bridge_rules() {
        let h = hosts(2);
        assert_eq!(key(&h, "https://News.Example/rss").host, "news.example");
        assert_eq!(key(&h, "https://news.example/rss").wait, "news.example");
        assert_eq!(key(&h, "http://127.0.0.1:8080/a").host, "127.0.0.1:8080");
        let b = key(&h, "https://bridge.example/?action=display&bridge=A");
        assert_eq!(b.host, "bridge.example");
        assert_eq!(b.wait, "https://bridge.example/?action=display&bridge=A");
        assert_eq!(h.limit("bridge.example"), 3);
        assert_eq!(h.limit("bridge.example:8443"), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn per_host_limit_and_round_robin() {
        let h = hosts(2);
        let mut q = Queue::default();
        for i in 0..4 {
            q.push(key(&h, &format!("https://a.example/{i}")), format!("a{i}"));
        }
        q.push(key(&h, "https://b.example/0"), "b0".to_string());
        let now = Instant::now();
        let mut run = Vec::new();
        let mut permits = Vec::new();
        while let Next::Run(job, permit) = q.next(&h, now) {
            run.push(job);
            permits.push(permit);
        }
        // a gets two slots, b is not starved behind a's queue.
        assert_eq!(run, ["a0", "b0", "a1"]);
        assert!(matches!(q.next(&h, now), Next::Wait(None)));
        permits.remove(0);
        let Next::Run(job, _p) = q.next(&h, now) else { panic!("a slot was freed") };
        assert_eq!(job, "a2");
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_retry_after_waits_and_a_long_one_postpones() {
        let h = hosts(2);
        let now = Instant::now();
        let a = key(&h, "https://a.example/1");
        let until = h.block(&a, now, Duration::from_secs(20));
        let mut q = Queue::default();
        q.push(a.clone(), "a1");
        q.push(key(&h, "https://b.example/1"), "b1");
        let Next::Run(job, _b) = q.next(&h, now) else { panic!("b is not blocked") };
        assert_eq!(job, "b1");
        let Next::Wait(Some(wake)) = q.next(&h, now) else { panic!("a waits") };
        assert_eq!(wake, until);
        tokio::time::sleep_until(wake).await;
        assert!(matches!(q.next(&h, Instant::now()), Next::Run("a1", _)));

        let now = Instant::now();
        let until = h.block(&a, now, Duration::from_secs(600));
        q.push(a.clone(), "a2");
        let Next::Postpone(job, at) = q.next(&h, now) else { panic!("a is blocked for long") };
        assert_eq!((job, at), ("a2", until));
        // A server asking for more than max_block gets max_block.
        let until = h.block(&a, now, Duration::from_secs(10 * 86400));
        assert_eq!(until - now, Duration::from_secs(3600));
    }

    #[tokio::test(start_paused = true)]
    async fn bridge_hosts_block_only_the_throttled_feed() {
        let h = hosts(2);
        let now = Instant::now();
        let one = key(&h, "https://bridge.example/?feed=1");
        let two = key(&h, "https://bridge.example/?feed=2");
        h.block(&one, now, Duration::from_secs(600));
        assert!(matches!(h.try_acquire(&one, now), Gate::Blocked(_)));
        assert!(matches!(h.try_acquire(&two, now), Gate::Ready(_)));
        // An ordinary host shares the wait between its feeds.
        let a1 = key(&h, "https://a.example/1");
        let a2 = key(&h, "https://a.example/2");
        h.block(&a1, now, Duration::from_secs(600));
        assert!(matches!(h.try_acquire(&a2, now), Gate::Blocked(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn freeing_a_slot_wakes_the_dispatcher() {
        let h = hosts(1);
        let k = key(&h, "https://a.example/1");
        let Gate::Ready(permit) = h.try_acquire(&k, Instant::now()) else { panic!() };
        // Made before the look, it sees a change that happens before the wait starts.
        let watch = h.watch();
        assert!(matches!(h.try_acquire(&k, Instant::now()), Gate::Busy));
        drop(permit);
        tokio::time::timeout(Duration::from_secs(1), watch.changed()).await.expect("woken");
    }

    #[tokio::test(start_paused = true)]
    async fn a_watch_wakes_when_a_pause_ends() {
        let h = hosts(1);
        let k = key(&h, "https://a.example/1");
        let start = Instant::now();
        h.block(&k, start, Duration::from_secs(20));
        let watch = h.watch();
        watch.changed().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(20));
        assert!(matches!(h.try_acquire(&k, Instant::now()), Gate::Ready(_)));
    }
}
