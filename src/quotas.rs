//! Client quota enforcement as Kafka's ClientQuotaManager does it (KIP-13, KIP-55, KIP-219):
//! `producer_byte_rate` for Produce and `consumer_byte_rate` for Fetch, each matched to a
//! client by Kafka's precedence (user + client-id, user, client-id, and their default forms),
//! the rate measured over `quota.window.num` samples of `quota.window.size.seconds`, and a
//! violation answered with the time that brings the rate back to the quota. The caller puts
//! that time in the response's throttle_time_ms and the loop mutes the connection for it.
//!
//! Invariants: state is keyed by client identity (user principal, client id), never by
//! connection; with no quota of a type ever configured since start, recording it costs one
//! branch (no lookup, no allocation); the meters are bounded in number.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::storage::client_quotas::{Name, QuotaChange, QuotaEntity, QuotaImage};

/// The user principal of every client: without authentication Kafka's principal is
/// `User:ANONYMOUS`, and user quotas match its name.
pub const ANONYMOUS: &str = "ANONYMOUS";

pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";
pub const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

/// A meter unused this long is dropped (Kafka's InactiveSensorExpirationTimeSeconds).
const METER_IDLE_MAX: Duration = Duration::from_secs(3600);
/// Meters kept per quota type; past this the least recently used one is dropped.
const METERS_MAX: usize = 100_000;

/// Which entity shapes have had a quota of this type since start (Kafka's QuotaTypes: once
/// set, a bit stays set until restart, even if the quota is removed).
const CLIENT_ID_QUOTAS: u8 = 1;
const USER_QUOTAS: u8 = 2;
const USER_CLIENT_ID_QUOTAS: u8 = 4;

/// The sampled window a rate is measured over.
#[derive(Debug, Clone, Copy)]
struct Window {
    samples: usize,
    sample_ms: i64,
}

/// One sample of Kafka's SampledStat (a WindowedSum).
#[derive(Debug, Clone, Copy)]
struct Sample {
    value: f64,
    start_ms: i64,
    last_event_ms: i64,
}

impl Sample {
    fn new(now_ms: i64) -> Sample {
        Sample {
            value: 0.0,
            start_ms: now_ms,
            last_event_ms: now_ms,
        }
    }
}

/// A client's rate: Kafka's `Rate` over a `WindowedSum`, sample for sample, so throttle
/// times come out as Kafka's do.
#[derive(Debug)]
struct Meter {
    samples: Vec<Sample>,
    current: usize,
    last_record_ms: i64,
}

impl Meter {
    fn new(window: Window) -> Meter {
        Meter {
            // One extra sample may overlap the start of the window, as in Kafka.
            samples: Vec::with_capacity(window.samples + 1),
            current: 0,
            last_record_ms: 0,
        }
    }

    fn record(&mut self, window: Window, value: f64, now_ms: i64) {
        self.last_record_ms = now_ms;
        if self.samples.is_empty() {
            self.samples.push(Sample::new(now_ms));
        }
        if now_ms - self.samples[self.current].start_ms >= window.sample_ms {
            self.current = (self.current + 1) % (window.samples + 1);
            if self.current >= self.samples.len() {
                self.samples.push(Sample::new(now_ms));
            } else {
                self.samples[self.current] = Sample::new(now_ms);
            }
        }
        let sample = &mut self.samples[self.current];
        sample.value += value;
        sample.last_event_ms = now_ms;
    }

    /// Resets samples with no event within the whole window.
    fn purge(&mut self, window: Window, now_ms: i64) {
        let expire_ms = window.samples as i64 * window.sample_ms;
        for sample in &mut self.samples {
            if now_ms - sample.last_event_ms >= expire_ms {
                *sample = Sample::new(now_ms);
            }
        }
    }

    /// The time the rate is taken over: from the oldest sample, but never less than all
    /// samples but one, so a first burst is not measured over a few milliseconds.
    fn window_ms(&mut self, window: Window, now_ms: i64) -> i64 {
        self.purge(window, now_ms);
        if self.samples.is_empty() {
            self.samples.push(Sample::new(now_ms));
        }
        let oldest = self
            .samples
            .iter()
            .map(|s| s.start_ms)
            .min()
            .unwrap_or(now_ms);
        let mut elapsed_ms = now_ms - oldest;
        let full = elapsed_ms / window.sample_ms;
        let full_min = window.samples as i64 - 1;
        if full < full_min {
            elapsed_ms += (full_min - full) * window.sample_ms;
        }
        elapsed_ms.max(1)
    }

    /// Units per second.
    fn rate(&mut self, window: Window, now_ms: i64) -> f64 {
        self.purge(window, now_ms);
        let total: f64 = self.samples.iter().map(|s| s.value).sum();
        total / (self.window_ms(window, now_ms) as f64 / 1000.0)
    }

    /// Records `value` and returns the throttle time if the rate is now above `bound`:
    /// the delay X that brings the observed rate O back to the bound T over the window W,
    /// O * W / (W + X) = T, so X = (O - T) / T * W (Kafka's QuotaUtils.throttleTime).
    fn record_and_throttle_ms(
        &mut self,
        window: Window,
        value: f64,
        now_ms: i64,
        bound: f64,
    ) -> i32 {
        self.record(window, value, now_ms);
        let rate = self.rate(window, now_ms);
        if rate <= bound {
            return 0;
        }
        let window_ms = self.window_ms(window, now_ms) as f64;
        // Java's Math.round.
        let throttle_ms = ((rate - bound) / bound * window_ms + 0.5).floor();
        throttle_ms.clamp(0.0, f64::from(i32::MAX)) as i32
    }
}

/// Quota values by client-id name, and the default client-id's.
#[derive(Debug, Default)]
struct ClientLimits {
    named: HashMap<String, f64>,
    default: Option<f64>,
}

impl ClientLimits {
    fn set(&mut self, name: &Name, value: Option<f64>) {
        match (name, value) {
            (Name::Default, value) => self.default = value,
            (Name::Named(n), Some(v)) => {
                self.named.insert(n.clone(), v);
            }
            (Name::Named(n), None) => {
                self.named.remove(n);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.named.is_empty() && self.default.is_none()
    }
}

/// A user's own quota and its quotas per client id.
#[derive(Debug, Default)]
struct UserLimits {
    alone: Option<f64>,
    clients: ClientLimits,
}

impl UserLimits {
    fn is_empty(&self) -> bool {
        self.alone.is_none() && self.clients.is_empty()
    }
}

/// Every configured quota of one type, looked up by borrowed names (no allocation).
#[derive(Debug, Default)]
struct Limits {
    users: HashMap<String, UserLimits>,
    default_user: UserLimits,
    clients: ClientLimits,
}

impl Limits {
    fn set(&mut self, user: Option<&Name>, client: Option<&Name>, value: Option<f64>) {
        let Some(user) = user else {
            if let Some(client) = client {
                self.clients.set(client, value);
            }
            return;
        };
        let limits = match user {
            Name::Default => &mut self.default_user,
            Name::Named(n) => self.users.entry(n.clone()).or_default(),
        };
        match client {
            Some(client) => limits.clients.set(client, value),
            None => limits.alone = value,
        }
        if let Name::Named(n) = user
            && self.users.get(n).is_some_and(UserLimits::is_empty)
        {
            self.users.remove(n);
        }
    }
}

/// The quota of one type (produce or fetch bytes): its limits and its clients' meters.
#[derive(Debug)]
pub struct QuotaManager {
    enabled: u8,
    limits: Limits,
    /// Meters by the user tag, then the client-id tag, of Kafka's quota metric ("" when
    /// the matched quota does not depend on it).
    meters: HashMap<String, HashMap<String, Meter>>,
    meter_count: usize,
    window: Window,
}

impl QuotaManager {
    fn new(window: Window) -> QuotaManager {
        QuotaManager {
            enabled: 0,
            limits: Limits::default(),
            meters: HashMap::new(),
            meter_count: 0,
            window,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled != 0
    }

    fn update(&mut self, entity: &QuotaEntity, value: Option<f64>) {
        let (user, client) = (entity.user.as_ref(), entity.client_id.as_ref());
        self.enabled |= match (user, client) {
            (Some(_), Some(_)) => USER_CLIENT_ID_QUOTAS,
            (Some(_), None) => USER_QUOTAS,
            (None, Some(_)) => CLIENT_ID_QUOTAS,
            (None, None) => return,
        };
        self.limits.set(user, client, value);
    }

    /// The (user, client-id) tags whose meter and quota apply to this client: Kafka's
    /// DefaultQuotaCallback.quotaMetricTags, walking its precedence when quotas of several
    /// shapes exist. Lookups borrow the names: nothing is allocated.
    fn tags<'c>(&self, user: &'c str, client_id: &'c str) -> (&'c str, &'c str) {
        match self.enabled {
            0 | CLIENT_ID_QUOTAS => return ("", client_id),
            USER_QUOTAS => return (user, ""),
            USER_CLIENT_ID_QUOTAS => return (user, client_id),
            _ => {}
        }
        let own = self.limits.users.get(user);
        let default_user = &self.limits.default_user;
        if own
            .is_some_and(|u| u.clients.named.contains_key(client_id) || u.clients.default.is_some())
        {
            (user, client_id)
        } else if own.is_some_and(|u| u.alone.is_some()) {
            (user, "")
        } else if default_user.clients.named.contains_key(client_id)
            || default_user.clients.default.is_some()
        {
            (user, client_id)
        } else if default_user.alone.is_some() {
            (user, "")
        } else {
            ("", client_id)
        }
    }

    /// The quota for these tags, most specific first: Kafka's DefaultQuotaCallback.quotaLimit.
    fn bound(&self, user: &str, client_id: &str) -> Option<f64> {
        let l = &self.limits;
        let own = l.users.get(user);
        let default_user = &l.default_user;
        match (user.is_empty(), client_id.is_empty()) {
            (false, false) => own
                .and_then(|u| u.clients.named.get(client_id).copied())
                .or_else(|| own.and_then(|u| u.clients.default))
                .or_else(|| default_user.clients.named.get(client_id).copied())
                .or(default_user.clients.default),
            (false, true) => own.and_then(|u| u.alone).or(default_user.alone),
            (true, false) => l
                .clients
                .named
                .get(client_id)
                .copied()
                .or(l.clients.default),
            (true, true) => None,
        }
    }

    fn meter(&mut self, user: &str, client_id: &str, now_ms: i64) -> &mut Meter {
        let known = self
            .meters
            .get(user)
            .is_some_and(|clients| clients.contains_key(client_id));
        if !known {
            if self.meter_count >= METERS_MAX {
                self.drop_least_recent();
            }
            self.meter_count += 1;
            let meter = Meter {
                last_record_ms: now_ms,
                ..Meter::new(self.window)
            };
            self.meters
                .entry(user.to_string())
                .or_default()
                .insert(client_id.to_string(), meter);
        }
        self.meters
            .get_mut(user)
            .and_then(|clients| clients.get_mut(client_id))
            .expect("the meter was just found or inserted")
    }

    fn drop_least_recent(&mut self) {
        let oldest = self
            .meters
            .iter()
            .flat_map(|(u, clients)| clients.iter().map(move |(c, m)| (m.last_record_ms, u, c)))
            .min()
            .map(|(_, u, c)| (u.clone(), c.clone()));
        if let Some((user, client_id)) = oldest {
            self.remove_meter(&user, &client_id);
        }
    }

    fn remove_meter(&mut self, user: &str, client_id: &str) {
        if let Some(clients) = self.meters.get_mut(user) {
            if clients.remove(client_id).is_some() {
                self.meter_count -= 1;
            }
            if clients.is_empty() {
                self.meters.remove(user);
            }
        }
    }

    /// Records `value` for the client and returns its throttle time in ms (0 within quota).
    fn record(&mut self, client_id: &str, value: f64, now_ms: i64) -> i32 {
        if self.enabled == 0 {
            return 0;
        }
        let (user, client) = self.tags(ANONYMOUS, client_id);
        // No quota matches: unbounded (Kafka's Long.MAX_VALUE bound), yet measured, so a
        // quota set later sees the rate so far.
        let bound = self.bound(user, client).unwrap_or(i64::MAX as f64);
        let window = self.window;
        self.meter(user, client, now_ms)
            .record_and_throttle_ms(window, value, now_ms, bound)
    }

    /// Takes back a recorded value (a throttled fetch sends no records).
    fn unrecord(&mut self, client_id: &str, value: f64, now_ms: i64) {
        if self.enabled == 0 {
            return;
        }
        let (user, client) = self.tags(ANONYMOUS, client_id);
        let window = self.window;
        self.meter(user, client, now_ms)
            .record(window, -value, now_ms);
    }

    /// The most bytes one response may carry without being throttled on an idle window:
    /// the quota over all samples but one (Kafka's getMaxValueInQuotaWindow).
    fn window_max(&self, client_id: &str) -> f64 {
        if self.enabled == 0 {
            return f64::MAX;
        }
        let (user, client) = self.tags(ANONYMOUS, client_id);
        self.bound(user, client).map_or(f64::MAX, |bound| {
            bound * (self.window.samples as f64 - 1.0) * (self.window.sample_ms as f64 / 1000.0)
        })
    }

    fn expire(&mut self, now_ms: i64) {
        let idle_ms = METER_IDLE_MAX.as_millis() as i64;
        let mut removed = 0;
        self.meters.retain(|_, clients| {
            let before = clients.len();
            clients.retain(|_, m| now_ms - m.last_record_ms < idle_ms);
            removed += before - clients.len();
            !clients.is_empty()
        });
        self.meter_count -= removed;
    }
}

/// The byte-rate quotas this broker enforces.
#[derive(Debug)]
pub struct Quotas {
    pub produce: QuotaManager,
    pub fetch: QuotaManager,
    /// Meters count milliseconds from here.
    origin: Instant,
}

impl Quotas {
    /// The quotas of the stored image, with the windows of `quota.window.num` and
    /// `quota.window.size.seconds`.
    pub fn new(config: &Config, image: &QuotaImage, now: Instant) -> Quotas {
        let window = Window {
            samples: config.quota_window_num.max(1),
            sample_ms: (config.quota_window_size_seconds.max(1) as i64).saturating_mul(1000),
        };
        let mut quotas = Quotas {
            produce: QuotaManager::new(window),
            fetch: QuotaManager::new(window),
            origin: now,
        };
        for (entity, values) in image {
            for (key, value) in values {
                quotas.apply(&QuotaChange {
                    entity: entity.clone(),
                    key: key.clone(),
                    value: Some(*value),
                });
            }
        }
        quotas
    }

    /// A stored change takes effect (the others' keys are stored, not enforced here).
    pub fn apply(&mut self, change: &QuotaChange) {
        if change.entity.ip.is_some() {
            return;
        }
        match change.key.as_str() {
            PRODUCER_BYTE_RATE => self.produce.update(&change.entity, change.value),
            CONSUMER_BYTE_RATE => self.fetch.update(&change.entity, change.value),
            _ => {}
        }
    }

    fn ms(&self, now: Instant) -> i64 {
        now.saturating_duration_since(self.origin).as_millis() as i64
    }

    /// A produce request of `request_bytes` (header and body) was handled: its throttle time.
    pub fn record_produce(&mut self, client_id: &str, request_bytes: usize, now: Instant) -> i32 {
        if !self.produce.enabled() {
            return 0;
        }
        let now_ms = self.ms(now);
        self.produce.record(client_id, request_bytes as f64, now_ms)
    }

    /// A fetch response of `response_bytes` is about to go out: its throttle time. A
    /// throttled fetch is answered without records, so its bytes are taken back.
    pub fn record_fetch(&mut self, client_id: &str, response_bytes: usize, now: Instant) -> i32 {
        if !self.fetch.enabled() {
            return 0;
        }
        let now_ms = self.ms(now);
        let throttle_ms = self.fetch.record(client_id, response_bytes as f64, now_ms);
        if throttle_ms > 0 {
            self.fetch
                .unrecord(client_id, response_bytes as f64, now_ms);
        }
        throttle_ms
    }

    /// The most bytes a fetch of this client may ask for (Java's saturating double to int).
    pub fn fetch_bytes_max(&self, client_id: &str) -> i32 {
        if !self.fetch.enabled() {
            return i32::MAX;
        }
        let max = self.fetch.window_max(client_id);
        if max >= f64::from(i32::MAX) {
            i32::MAX
        } else {
            max as i32
        }
    }

    /// Drops meters idle for an hour.
    pub fn expire(&mut self, now: Instant) {
        let now_ms = self.ms(now);
        self.produce.expire(now_ms);
        self.fetch.expire(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Window = Window {
        samples: 11,
        sample_ms: 1000,
    };

    fn entity(user: Option<Name>, client_id: Option<Name>) -> QuotaEntity {
        QuotaEntity {
            user,
            client_id,
            ip: None,
        }
    }

    fn named(n: &str) -> Option<Name> {
        Some(Name::Named(n.into()))
    }

    #[test]
    fn first_burst_is_measured_over_all_samples_but_one() {
        // 2,000 bytes at once under a 100 B/s quota: 200 B/s over the minimum 10 s window,
        // (200 - 100) / 100 * 10,000 ms = 10,000 ms, as Kafka computes it.
        let mut meter = Meter::new(WINDOW);
        assert_eq!(
            meter.record_and_throttle_ms(WINDOW, 2000.0, 5, 100.0),
            10_000
        );
        // Within quota: no throttle.
        let mut meter = Meter::new(WINDOW);
        assert_eq!(meter.record_and_throttle_ms(WINDOW, 1000.0, 5, 100.0), 0);
    }

    #[test]
    fn samples_roll_and_expire() {
        let mut meter = Meter::new(WINDOW);
        for second in 0..30 {
            meter.record(WINDOW, 100.0, second * 1000);
        }
        // Twelve samples at most (one overlapping the window's start). At 29 s the sample of
        // 18 s is a whole window old and reset; the other eleven hold 1,100 B, over the 10 s
        // since the oldest's start (the current sample just began): 110 B/s, as in Kafka.
        assert_eq!(meter.samples.len(), 12);
        assert_eq!(meter.rate(WINDOW, 29_000), 110.0);
        // Idle for a whole window: every sample is reset, the rate is zero.
        assert_eq!(meter.rate(WINDOW, 29_000 + 11_000), 0.0);
    }

    #[test]
    fn precedence_picks_the_most_specific_quota() {
        let mut m = QuotaManager::new(WINDOW);
        m.update(&entity(None, Some(Name::Default)), Some(1.0));
        assert_eq!(m.tags(ANONYMOUS, "c"), ("", "c"));
        assert_eq!(m.bound("", "c"), Some(1.0));
        m.update(&entity(None, named("c")), Some(2.0));
        assert_eq!(m.bound("", "c"), Some(2.0));
        // A user quota makes the shapes mixed: the user's quota beats client-id quotas.
        m.update(&entity(Some(Name::Default), None), Some(3.0));
        assert_eq!(m.tags(ANONYMOUS, "c"), (ANONYMOUS, ""));
        assert_eq!(m.bound(ANONYMOUS, ""), Some(3.0));
        m.update(&entity(named(ANONYMOUS), None), Some(4.0));
        assert_eq!(m.bound(ANONYMOUS, ""), Some(4.0));
        // user + client-id beats both.
        m.update(&entity(named(ANONYMOUS), named("c")), Some(5.0));
        assert_eq!(m.tags(ANONYMOUS, "c"), (ANONYMOUS, "c"));
        assert_eq!(m.bound(ANONYMOUS, "c"), Some(5.0));
        assert_eq!(m.tags(ANONYMOUS, "other"), (ANONYMOUS, ""));
        // Removed: the user's own quota applies again; the shapes stay enabled.
        m.update(&entity(named(ANONYMOUS), named("c")), None);
        assert_eq!(m.tags(ANONYMOUS, "c"), (ANONYMOUS, ""));
        assert_eq!(m.bound(ANONYMOUS, ""), Some(4.0));
        assert_eq!(m.enabled, 7);
    }

    #[test]
    fn default_user_with_a_client_id_beats_the_default_user() {
        let mut m = QuotaManager::new(WINDOW);
        m.update(&entity(Some(Name::Default), None), Some(3.0));
        m.update(&entity(Some(Name::Default), named("c")), Some(6.0));
        assert_eq!(m.tags(ANONYMOUS, "c"), (ANONYMOUS, "c"));
        assert_eq!(m.bound(ANONYMOUS, "c"), Some(6.0));
        assert_eq!(m.tags(ANONYMOUS, "d"), (ANONYMOUS, ""));
        assert_eq!(m.bound(ANONYMOUS, ""), Some(3.0));
    }

    #[test]
    fn unquoted_types_cost_nothing_and_fetch_is_capped_by_its_window() {
        let config = Config::default();
        let mut image = QuotaImage::new();
        image
            .entry(entity(None, named("c")))
            .or_default()
            .insert(CONSUMER_BYTE_RATE.into(), 1000.0);
        let now = Instant::now();
        let mut quotas = Quotas::new(&config, &image, now);
        assert!(!quotas.produce.enabled());
        assert_eq!(quotas.record_produce("c", 1 << 30, now), 0);
        assert_eq!(quotas.produce.meter_count, 0);
        assert_eq!(quotas.fetch_bytes_max("c"), 10_000);
        assert_eq!(quotas.fetch_bytes_max("other"), i32::MAX);
        // 20,000 bytes: throttled, and taken back, so a smaller fetch then passes.
        assert_eq!(quotas.record_fetch("c", 20_000, now), 10_000);
        assert_eq!(quotas.record_fetch("c", 9_000, now), 0);
        quotas.expire(now + METER_IDLE_MAX);
        assert_eq!(quotas.fetch.meter_count, 0);
    }
}
