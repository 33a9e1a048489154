//! Short-lived shared state: sessions, one-shot sign-in state, the assertion
//! replay cache and rate-limit counters.
//!
//! One interface, two engines: in-process (the default, one instance) and
//! Redis (several instances behind a load balancer behave as one). Callers
//! store strings (JSON where structured) under keys they namespace.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache as MokaCache;
use moka::Expiry;

use crate::config::CacheConfig;

#[derive(Debug, thiserror::Error)]
#[error("cache unavailable: {0}")]
pub struct CacheError(String);

pub type CacheResult<T> = Result<T, CacheError>;

/// A value that cannot be encoded for the cache is as good as a cache that
/// cannot take it: the caller answers "try again" either way.
impl From<serde_json::Error> for CacheError {
    fn from(e: serde_json::Error) -> Self {
        CacheError(format!("cannot encode a value for the cache: {e}"))
    }
}

#[derive(Clone)]
pub enum Cache {
    Memory(MemoryCache),
    Redis(RedisCache),
}

impl Cache {
    pub async fn connect(config: &CacheConfig) -> CacheResult<Self> {
        if config.url == "memory" {
            Ok(Cache::Memory(MemoryCache::new(config.memory_max_entries)))
        } else {
            Ok(Cache::Redis(RedisCache::connect(&config.url).await?))
        }
    }

    /// Stores `value` under `key` for `ttl`, replacing what was there.
    pub async fn put(&self, key: &str, value: &str, ttl: Duration) -> CacheResult<()> {
        match self {
            Cache::Memory(m) => {
                m.put(key, value, ttl);
                Ok(())
            }
            Cache::Redis(r) => r.put(key, value, ttl).await,
        }
    }

    pub async fn get(&self, key: &str) -> CacheResult<Option<String>> {
        match self {
            Cache::Memory(m) => Ok(m.get(key)),
            Cache::Redis(r) => r.get(key).await,
        }
    }

    /// Reads and removes in one step: a one-shot value can be taken once,
    /// even by two instances racing for it.
    pub async fn take(&self, key: &str) -> CacheResult<Option<String>> {
        match self {
            Cache::Memory(m) => Ok(m.take(key)),
            Cache::Redis(r) => r.take(key).await,
        }
    }

    /// Stores only if nothing live is there; true when this call stored it.
    pub async fn put_if_absent(&self, key: &str, value: &str, ttl: Duration) -> CacheResult<bool> {
        match self {
            Cache::Memory(m) => Ok(m.put_if_absent(key, value, ttl)),
            Cache::Redis(r) => r.put_if_absent(key, value, ttl).await,
        }
    }

    /// Adds one to a counter that lives `window` from its first increment
    /// (a fixed-window rate limit) and returns the new count.
    pub async fn increment(&self, key: &str, window: Duration) -> CacheResult<u64> {
        match self {
            Cache::Memory(m) => Ok(m.increment(key, window)),
            Cache::Redis(r) => r.increment(key, window).await,
        }
    }

    /// Appends one line to the value under `key` (creating it), atomically
    /// even between instances, and sets its life to `ttl` (callers append entries of one lifetime, so the
    /// newest outlives the rest): an index that
    /// concurrent writers add to without losing each other's entries.
    pub async fn append_line(&self, key: &str, line: &str, ttl: Duration) -> CacheResult<()> {
        match self {
            Cache::Memory(m) => {
                m.append_line(key, line, ttl);
                Ok(())
            }
            Cache::Redis(r) => r.append_line(key, line, ttl).await,
        }
    }

    pub async fn delete(&self, key: &str) -> CacheResult<()> {
        match self {
            Cache::Memory(m) => {
                m.entries.invalidate(key);
                Ok(())
            }
            Cache::Redis(r) => r.delete(key).await,
        }
    }

    /// The current value of the version counter `key`. A counter that is
    /// missing (never moved, or lost: evicted, Redis restarted) starts at
    /// the clock in microseconds, far above any value it had before, so a
    /// value read once is never read again for another state.
    pub async fn version(&self, key: &str) -> CacheResult<u64> {
        match self {
            Cache::Memory(m) => Ok(m.version(key)),
            Cache::Redis(r) => r.version(key).await,
        }
    }

    /// The value under `key` and the version counter `version_key` (as
    /// [`Cache::version`] reads it), in one round trip to Redis: what
    /// `/auth/verify` reads per request.
    pub async fn get_with_version(
        &self,
        key: &str,
        version_key: &str,
    ) -> CacheResult<(Option<String>, u64)> {
        match self {
            Cache::Memory(m) => Ok((m.get(key), m.version(version_key))),
            Cache::Redis(r) => r.get_with_version(key, version_key).await,
        }
    }

    /// Moves the version counter `key` on (atomically, even between
    /// instances); it never expires.
    pub async fn bump_version(&self, key: &str) -> CacheResult<()> {
        match self {
            Cache::Memory(m) => {
                m.bump_version(key);
                Ok(())
            }
            Cache::Redis(r) => r.bump_version(key).await,
        }
    }

    pub async fn ping(&self) -> bool {
        match self {
            Cache::Memory(_) => true,
            Cache::Redis(r) => r.ping().await,
        }
    }

    pub fn engine(&self) -> &'static str {
        match self {
            Cache::Memory(_) => "memory",
            Cache::Redis(_) => "redis",
        }
    }
}

#[derive(Clone)]
struct Entry {
    value: Arc<str>,
    expires_at: Instant,
}

impl Entry {
    fn new(value: &str, ttl: Duration) -> Self {
        Entry {
            value: Arc::from(value),
            expires_at: Instant::now() + ttl,
        }
    }

    fn live(self) -> Option<Self> {
        (self.expires_at > Instant::now()).then_some(self)
    }
}

/// Each entry carries its own deadline.
struct EntryDeadline;

impl Expiry<String, Entry> for EntryDeadline {
    fn expire_after_create(&self, _key: &String, entry: &Entry, now: Instant) -> Option<Duration> {
        Some(entry.expires_at.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Entry,
        now: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.expires_at.saturating_duration_since(now))
    }
}

/// In-process engine on moka: bounded, per-entry expiry, atomic entry ops.
/// Every read re-checks the deadline, so an expired entry that moka has not
/// evicted yet is never served.
#[derive(Clone)]
pub struct MemoryCache {
    entries: MokaCache<String, Entry>,
    /// Version counters apart from the entries: read on every
    /// `/auth/verify`, so a plain number rather than a parsed string.
    versions: MokaCache<String, u64>,
}

/// Where a missing version counter starts: microseconds since the epoch.
fn fresh_version() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl MemoryCache {
    pub fn new(max_entries: u64) -> Self {
        MemoryCache {
            entries: MokaCache::builder()
                .max_capacity(max_entries)
                .expire_after(EntryDeadline)
                .build(),
            versions: MokaCache::builder().max_capacity(max_entries).build(),
        }
    }

    fn version(&self, key: &str) -> u64 {
        if let Some(v) = self.versions.get(key) {
            return v;
        }
        self.versions
            .entry(key.to_string())
            .or_insert_with(fresh_version)
            .into_value()
    }

    fn bump_version(&self, key: &str) {
        self.versions
            .entry(key.to_string())
            .and_compute_with(|current| {
                let next = current.map_or_else(fresh_version, |e| e.into_value()) + 1;
                moka::ops::compute::Op::Put(next)
            });
    }

    fn put(&self, key: &str, value: &str, ttl: Duration) {
        self.entries.insert(key.to_string(), Entry::new(value, ttl));
    }

    fn get(&self, key: &str) -> Option<String> {
        self.entries
            .get(key)
            .and_then(Entry::live)
            .map(|e| e.value.to_string())
    }

    fn take(&self, key: &str) -> Option<String> {
        self.entries
            .remove(key)
            .and_then(Entry::live)
            .map(|e| e.value.to_string())
    }

    fn put_if_absent(&self, key: &str, value: &str, ttl: Duration) -> bool {
        let mut stored = false;
        self.entries
            .entry(key.to_string())
            .and_compute_with(|current| {
                use moka::ops::compute::Op;
                match current.and_then(|e| e.into_value().live()) {
                    Some(_) => Op::Nop,
                    None => {
                        stored = true;
                        Op::Put(Entry::new(value, ttl))
                    }
                }
            });
        stored
    }

    fn append_line(&self, key: &str, line: &str, ttl: Duration) {
        self.entries
            .entry(key.to_string())
            .and_compute_with(|current| {
                let mut value = current
                    .and_then(|e| e.into_value().live())
                    .map(|e| e.value.to_string())
                    .unwrap_or_default();
                value.push_str(line);
                value.push('\n');
                moka::ops::compute::Op::Put(Entry::new(&value, ttl))
            });
    }

    fn increment(&self, key: &str, window: Duration) -> u64 {
        let mut count = 0;
        self.entries
            .entry(key.to_string())
            .and_compute_with(|current| {
                use moka::ops::compute::Op;
                let (previous, expires_at) = match current.and_then(|e| e.into_value().live()) {
                    Some(e) => (e.value.parse::<u64>().unwrap_or(0), e.expires_at),
                    None => (0, Instant::now() + window),
                };
                count = previous + 1;
                Op::Put(Entry {
                    value: Arc::from(count.to_string().as_str()),
                    expires_at,
                })
            });
        count
    }
}

/// Redis engine. The connection manager reconnects by itself, so requests
/// fail fast with `CacheError` while Redis is down and work again once it is
/// back, with no restart.
#[derive(Clone)]
pub struct RedisCache {
    connection: redis::aio::ConnectionManager,
    increment_script: Arc<redis::Script>,
    version_script: Arc<redis::Script>,
    bump_script: Arc<redis::Script>,
}

/// Lua: KEYS[1] set to Redis's clock in microseconds when missing (one
/// clock for every instance), as a decimal string.
const START_VERSION_LUA: &str = "if redis.call('EXISTS', KEYS[1]) == 0 then \
     local t = redis.call('TIME') \
     redis.call('SET', KEYS[1], t[1] .. string.format('%06d', tonumber(t[2]))) end ";

/// Shared Redis may hold other applications' keys.
const REDIS_PREFIX: &str = "sso-gateway:";

fn redis_err(e: redis::RedisError) -> CacheError {
    CacheError(e.to_string())
}

impl RedisCache {
    async fn connect(url: &str) -> CacheResult<Self> {
        let client =
            redis::Client::open(url).map_err(|e| CacheError(format!("bad redis URL: {e}")))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let connection = redis::aio::ConnectionManager::new_with_config(client, config)
            .await
            .map_err(redis_err)?;
        // INCR and the first PEXPIRE in one atomic step, so a counter can
        // never be left without a deadline.
        let increment_script = Arc::new(redis::Script::new(
            "local n = redis.call('INCR', KEYS[1]) \
             if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
             return n",
        ));
        let version_script = Arc::new(redis::Script::new(&format!(
            "{START_VERSION_LUA} return redis.call('GET', KEYS[1])"
        )));
        let bump_script = Arc::new(redis::Script::new(&format!(
            "{START_VERSION_LUA} return redis.call('INCR', KEYS[1])"
        )));
        Ok(RedisCache {
            connection,
            increment_script,
            version_script,
            bump_script,
        })
    }

    fn key(key: &str) -> String {
        format!("{REDIS_PREFIX}{key}")
    }

    async fn put(&self, key: &str, value: &str, ttl: Duration) -> CacheResult<()> {
        let mut con = self.connection.clone();
        redis::cmd("SET")
            .arg(Self::key(key))
            .arg(value)
            .arg("PX")
            .arg(ttl_ms(ttl))
            .query_async::<()>(&mut con)
            .await
            .map_err(redis_err)
    }

    async fn get(&self, key: &str) -> CacheResult<Option<String>> {
        let mut con = self.connection.clone();
        redis::cmd("GET")
            .arg(Self::key(key))
            .query_async(&mut con)
            .await
            .map_err(redis_err)
    }

    async fn take(&self, key: &str) -> CacheResult<Option<String>> {
        let mut con = self.connection.clone();
        redis::cmd("GETDEL")
            .arg(Self::key(key))
            .query_async(&mut con)
            .await
            .map_err(redis_err)
    }

    async fn put_if_absent(&self, key: &str, value: &str, ttl: Duration) -> CacheResult<bool> {
        let mut con = self.connection.clone();
        let reply: Option<String> = redis::cmd("SET")
            .arg(Self::key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms(ttl))
            .query_async(&mut con)
            .await
            .map_err(redis_err)?;
        Ok(reply.is_some())
    }

    async fn increment(&self, key: &str, window: Duration) -> CacheResult<u64> {
        let mut con = self.connection.clone();
        self.increment_script
            .key(Self::key(key))
            .arg(ttl_ms(window))
            .invoke_async(&mut con)
            .await
            .map_err(redis_err)
    }

    /// A plain GET while the counter exists (every request but the first
    /// after a loss); the script only to start it.
    async fn version(&self, key: &str) -> CacheResult<u64> {
        if let Some(v) = self.get(key).await? {
            return parse_version(&v);
        }
        let mut con = self.connection.clone();
        let v: String = self
            .version_script
            .key(Self::key(key))
            .invoke_async(&mut con)
            .await
            .map_err(redis_err)?;
        parse_version(&v)
    }

    /// One MGET; only a missing counter costs the script's second trip.
    async fn get_with_version(
        &self,
        key: &str,
        version_key: &str,
    ) -> CacheResult<(Option<String>, u64)> {
        let mut con = self.connection.clone();
        let (value, version): (Option<String>, Option<String>) = redis::cmd("MGET")
            .arg(Self::key(key))
            .arg(Self::key(version_key))
            .query_async(&mut con)
            .await
            .map_err(redis_err)?;
        let version = match version {
            Some(v) => parse_version(&v)?,
            None => self.version(version_key).await?,
        };
        Ok((value, version))
    }

    async fn bump_version(&self, key: &str) -> CacheResult<()> {
        let mut con = self.connection.clone();
        self.bump_script
            .key(Self::key(key))
            .invoke_async::<()>(&mut con)
            .await
            .map_err(redis_err)
    }

    async fn append_line(&self, key: &str, line: &str, ttl: Duration) -> CacheResult<()> {
        let mut con = self.connection.clone();
        redis::pipe()
            .atomic()
            .cmd("APPEND")
            .arg(Self::key(key))
            .arg(format!("{line}\n"))
            .ignore()
            .cmd("PEXPIRE")
            .arg(Self::key(key))
            .arg(ttl_ms(ttl))
            .ignore()
            .query_async::<()>(&mut con)
            .await
            .map_err(redis_err)
    }

    async fn delete(&self, key: &str) -> CacheResult<()> {
        let mut con = self.connection.clone();
        redis::cmd("DEL")
            .arg(Self::key(key))
            .query_async::<()>(&mut con)
            .await
            .map_err(redis_err)
    }

    async fn ping(&self) -> bool {
        let mut con = self.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut con)
            .await
            .is_ok()
    }
}

/// Something else wrote a non-number under a version key: treated as the
/// cache failing, never as a version.
fn parse_version(v: &str) -> CacheResult<u64> {
    v.parse()
        .map_err(|_| CacheError(format!("version counter holds {v:?}, not a number")))
}

/// Redis refuses a zero expiry; one millisecond is the shortest real one.
fn ttl_ms(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64).max(1)
}

#[cfg(test)]
mod tests {
    //! The same behaviour checks run against the in-process engine and, when
    //! `SSO_GATEWAY_TEST_REDIS_URL` is set, a real Redis.
    use super::*;

    async fn engines() -> Vec<Cache> {
        let mut engines = vec![Cache::Memory(MemoryCache::new(1000))];
        if let Ok(url) = std::env::var("SSO_GATEWAY_TEST_REDIS_URL") {
            engines.push(Cache::Redis(RedisCache::connect(&url).await.unwrap()));
        }
        engines
    }

    impl Cache {
        /// Loses a version counter, as an eviction or a Redis restart would.
        async fn delete_version(&self, key: &str) {
            match self {
                Cache::Memory(m) => m.versions.invalidate(key),
                Cache::Redis(r) => r.delete(key).await.unwrap(),
            }
        }
    }

    fn unique(name: &str) -> String {
        format!("test:{name}:{}", uuid::Uuid::new_v4())
    }

    #[tokio::test]
    async fn appended_lines_are_all_kept_when_writers_race() {
        for cache in engines().await {
            let key = unique("append");
            let writers: Vec<_> = (0..20)
                .map(|i| {
                    let (cache, key) = (cache.clone(), key.clone());
                    tokio::spawn(async move {
                        cache
                            .append_line(&key, &format!("line-{i}"), Duration::from_secs(5))
                            .await
                            .unwrap()
                    })
                })
                .collect();
            for w in writers {
                w.await.unwrap();
            }
            let stored = cache.take(&key).await.unwrap().unwrap();
            let mut lines: Vec<&str> = stored.lines().collect();
            lines.sort_unstable();
            let mut expected: Vec<String> = (0..20).map(|i| format!("line-{i}")).collect();
            expected.sort_unstable();
            assert_eq!(lines, expected, "{}", cache.engine());
            assert_eq!(cache.get(&key).await.unwrap(), None);
        }
    }

    #[tokio::test]
    async fn put_get_and_expiry() {
        for cache in engines().await {
            let key = unique("ttl");
            cache
                .put(&key, "v", Duration::from_millis(150))
                .await
                .unwrap();
            assert_eq!(
                cache.get(&key).await.unwrap().as_deref(),
                Some("v"),
                "{}",
                cache.engine()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(
                cache.get(&key).await.unwrap(),
                None,
                "{} expired",
                cache.engine()
            );
            assert!(cache.ping().await);
        }
    }

    #[tokio::test]
    async fn take_is_one_shot_even_when_raced() {
        for cache in engines().await {
            let key = unique("take");
            cache
                .put(&key, "state", Duration::from_secs(60))
                .await
                .unwrap();
            let racers: Vec<_> = (0..16)
                .map(|_| {
                    let (cache, key) = (cache.clone(), key.clone());
                    tokio::spawn(async move { cache.take(&key).await.unwrap() })
                })
                .collect();
            let mut winners = 0;
            for r in racers {
                if r.await.unwrap().is_some() {
                    winners += 1;
                }
            }
            assert_eq!(winners, 1, "{}", cache.engine());
        }
    }

    #[tokio::test]
    async fn put_if_absent_admits_one_and_frees_after_expiry() {
        for cache in engines().await {
            let key = unique("nx");
            let racers: Vec<_> = (0..16)
                .map(|i| {
                    let (cache, key) = (cache.clone(), key.clone());
                    tokio::spawn(async move {
                        cache
                            .put_if_absent(&key, &i.to_string(), Duration::from_millis(200))
                            .await
                            .unwrap()
                    })
                })
                .collect();
            let mut stored = 0;
            for r in racers {
                stored += r.await.unwrap() as u32;
            }
            assert_eq!(stored, 1, "{}", cache.engine());
            tokio::time::sleep(Duration::from_millis(350)).await;
            assert!(cache
                .put_if_absent(&key, "again", Duration::from_secs(1))
                .await
                .unwrap());
        }
    }

    #[tokio::test]
    async fn versions_move_on_every_bump_even_when_raced() {
        for cache in engines().await {
            let key = unique("version");
            let start = cache.version(&key).await.unwrap();
            assert_eq!(
                cache.version(&key).await.unwrap(),
                start,
                "{}",
                cache.engine()
            );
            let bumpers: Vec<_> = (0..20)
                .map(|_| {
                    let (cache, key) = (cache.clone(), key.clone());
                    tokio::spawn(async move { cache.bump_version(&key).await.unwrap() })
                })
                .collect();
            for b in bumpers {
                b.await.unwrap();
            }
            assert_eq!(
                cache.version(&key).await.unwrap(),
                start + 20,
                "{}",
                cache.engine()
            );
            cache.delete_version(&key).await;
        }
    }

    #[tokio::test]
    async fn a_value_and_a_version_read_together_are_what_each_read_says() {
        for cache in engines().await {
            let (key, counter) = (unique("pair"), unique("pair-version"));
            let (missing, started) = cache.get_with_version(&key, &counter).await.unwrap();
            assert_eq!(missing, None, "{}", cache.engine());
            assert_eq!(
                started,
                cache.version(&counter).await.unwrap(),
                "a missing counter starts"
            );
            cache.put(&key, "v", Duration::from_secs(5)).await.unwrap();
            cache.bump_version(&counter).await.unwrap();
            let (value, version) = cache.get_with_version(&key, &counter).await.unwrap();
            assert_eq!(value.as_deref(), Some("v"), "{}", cache.engine());
            assert_eq!(version, started + 1, "{}", cache.engine());
            cache.delete(&key).await.unwrap();
            cache.delete_version(&counter).await;
        }
    }

    #[tokio::test]
    async fn a_lost_version_restarts_above_every_value_it_had() {
        for cache in engines().await {
            let key = unique("lost");
            cache.bump_version(&key).await.unwrap();
            let before = cache.version(&key).await.unwrap();
            assert!(before > 1_000_000_000_000_000, "clock-based start");
            cache.delete_version(&key).await;
            tokio::time::sleep(Duration::from_millis(2)).await;
            let after = cache.version(&key).await.unwrap();
            assert!(after > before, "{}: {after} after {before}", cache.engine());
            cache.delete_version(&key).await;
        }
    }

    #[tokio::test]
    async fn counters_count_within_their_window() {
        for cache in engines().await {
            let key = unique("rate");
            for expected in 1..=5 {
                assert_eq!(
                    cache
                        .increment(&key, Duration::from_millis(200))
                        .await
                        .unwrap(),
                    expected
                );
            }
            tokio::time::sleep(Duration::from_millis(350)).await;
            assert_eq!(
                cache
                    .increment(&key, Duration::from_millis(200))
                    .await
                    .unwrap(),
                1,
                "{}",
                cache.engine()
            );
            cache.delete(&key).await.unwrap();
        }
    }
}
