//! The `redis` cache handler: [`RedisCacheHandler`], label `"redis"`, owned by the extension
//! `"redis"` (cargo feature `redis` of `cement-ext`); config section `[cache.redis]`.
//!
//! ```no_run
//! use cement::App;
//!
//! #[derive(App)]
//! #[app(label = "myapp", extensions = ["redis"], cache_handler = "redis")]
//! struct MyApp;
//!
//! fn main() -> cement::Result<()> {
//!     let app = MyApp::setup()?; // connects lazily: starts even if redis is down
//!     app.cache().set("user:42", &vec![1, 2, 3])?; // stored under "myapp:user:42"
//!     let ids: Option<Vec<u32>> = app.cache().get("user:42")?;
//!     assert_eq!(ids, Some(vec![1, 2, 3])); // typed, not text as in Cement
//!     app.cache().purge()?; // only "myapp:*" keys
//!     app.close()
//! }
//! ```
//!
//! `cargo run --example redis` runs the same against `localhost:6379`, and says what to do
//! when no server is running. With no code change, an app switches to redis from its config
//! file (`~/.myapp.toml`, …) or environment (`MYAPP_CACHE_HANDLER=redis
//! MYAPP_EXTENSIONS=redis MYAPP_CACHE_REDIS_PORT=6380`):
//!
//! ```toml
//! [myapp]
//! extensions = ["redis"]
//! cache_handler = "redis"
//!
//! [cache.redis]
//! url = "rediss://cacheuser:s3cret@cache.internal:6380/2"
//! tls_ca_file = "/etc/myapp/redis-ca.pem"
//! expire_time = 300
//! ```
//!
//! # Config
//!
//! Section `[cache.redis]`, typed as [`RedisSettings`] (one field per key):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `host` | `"127.0.0.1"` | server host (ignored when `url` is set) |
//! | `port` | `6379` | server port, 1 to 65535 (ignored when `url` is set) |
//! | `db` | `0` | database number, 0 to 2147483647 (the server's `databases` is the real limit); a `/db` path in `url` wins |
//! | `expire_time` | `0` | seconds until entries written by `set` expire; `0` = never (Cement's meaning). `set_with_ttl` overrides it per call. Read by the [`Cache`](cement::cache::Cache) facade |
//! | `prefix` | `"<app label>:"` | put in front of every key; apps sharing a server never collide, and `purge` removes only keys under it |
//! | `url` | unset | `redis://[user[:password]@]host[:port][/db]`, or `rediss://…` for TLS; wins over `host`, `port` and `tls`. `db`, `username` and `password` apply where the url names none |
//! | `username` | unset | ACL user (Redis 6+) |
//! | `password` | unset | `requirepass` password or the ACL user's; never printed (see [Auth](#auth)) |
//! | `tls` | `false` | connect to `host`:`port` over TLS (same as a `rediss://` url) |
//! | `tls_ca_file` | unset | PEM file with the CA that signed the server certificate; without it the system's root certificates are trusted |
//! | `connect_timeout` | `1.0` | seconds allowed for opening a connection (TCP, TLS and the AUTH/SELECT handshake together) and for waiting for a free pooled connection. More than 0, at most 86400 |
//! | `response_timeout` | `1.0` | seconds a command may wait for its reply. More than 0, at most 86400 |
//! | `pool_size` | `16` | most connections open at once; more threads than that wait (up to `connect_timeout`); 1 to 1024 |
//! | `purge` | `"prefix"` | what `purge()` removes: `"prefix"` or `"db"` (see [Purge](#purge)) |
//! | `max_value_size` | `536870912` | largest encoded value sent, in bytes (redis' own limit is 512 MiB); larger ones fail with [`Error::ValueTooLarge`] before anything is sent. From 1 to 4294967296 |
//! | `cluster` | unset | Redis Cluster: seed nodes, `"host:port"` or `redis://`/`rediss://` urls (see [Topologies](#topologies)); not with `url` or `sentinels` |
//! | `sentinels` | unset | Sentinel: the sentinels, `"host:port"` or urls; with `sentinel_master` (see [Topologies](#topologies)) |
//! | `sentinel_master` | unset | the name the sentinels monitor the primary under |
//!
//! Durations are seconds and may be fractional (`0.25`). Environment variables follow
//! Cement's naming, `<APP>_CACHE_REDIS_<KEY>` (`MYAPP_CACHE_REDIS_PASSWORD`,
//! `MYAPP_CACHE_REDIS_URL`, …). Bad values (`purge = "everything"`, `connect_timeout = 0`, an
//! unparsable url, `tls_ca_file` without TLS, a `username` without `password`, an unreadable
//! CA file) fail at setup with [`Error::Config`], naming the key. The section also takes the
//! keys the cache facade reads for every handler: the failure policy
//! ([`cement::cache::policy`]), `lease_time` and `log_keys`. Any other key is an error that
//! lists the known ones, so a misspelt `pasword` is reported instead of silently connecting
//! without a password.
//!
//! # Values and keys
//!
//! Values are encoded by the facade (JSON) and stored as bytes, so every value that serializes
//! comes back with its type: `set("n", &1001)` reads back as `1001u32`, not `"1001"` (Cement's
//! handler returned text). Keys are binary-safe in redis: any UTF-8 key is sent as it is (after
//! the prefix), and no key can inject a command. `get_many` is one `MGET`, `set_many` one
//! `MSET` (or one pipeline of `SET … PX` when a TTL applies), `delete_many` one `UNLINK`.
//! `delete` returns whether the key existed. TTLs are sent in milliseconds (`SET … PX`) and
//! round up, never down to "never".
//!
//! # Atomic operations
//!
//! The handler declares [`Capabilities::ALL`]: every optional operation of the cache
//! interface is native, atomic and one round trip, so `app.cache().add(…)`, `incr`, `decr` and
//! `touch` work (handlers without a capability answer `Error::Unsupported` instead of
//! emulating it).
//!
//! ```no_run
//! # use std::time::Duration;
//! # use cement::App;
//! # #[derive(App)]
//! # #[app(label = "myapp", extensions = ["redis"], cache_handler = "redis")]
//! # struct MyApp;
//! # fn main() -> cement::Result<()> {
//! # let app = MyApp::setup()?;
//! let cache = app.cache();
//! if cache.add_with_ttl("lock:report", &"worker-7", Duration::from_secs(30))? {
//!     // only one process gets here until the lock expires or is deleted
//! }
//! let views = cache.incr("views:42", 1)?; // 1, 2, 3, … — atomic across processes
//! cache.touch("session:abc", Some(Duration::from_secs(900)))?; // new TTL, value untouched
//! cache.touch("session:abc", None)?; // never expire
//! assert!(cache.exists("views:42")?);
//! # let _ = views;
//! # app.close()
//! # }
//! ```
//!
//! | operation | on redis | semantics |
//! |---|---|---|
//! | `add(key, value, ttl)` | `SET key value NX [PX ms]` | stores only if the key is absent (an expired key is absent); `true` if it stored. Atomic: of many concurrent adds, one wins. A present key keeps its value and its TTL |
//! | `incr(key, delta)` / `decr(key, delta)` | one Lua script (`EVALSHA`, see below) | unsigned 64-bit counters, stored as ASCII decimal digits (`set(key, &41u64)` makes one; read one with `get::<u64>`). A missing key starts from 0 and is created with the TTL (`expire_time`); an existing key keeps its remaining TTL. `decr` stops at 0, never negative (memcached's rule). Returns the new value |
//! | `touch(key, Some(ttl))` | `PEXPIRE key ms` | a new TTL without rewriting the value; `true` if the key exists |
//! | `touch(key, None)` | `PERSIST key` + `EXISTS key`, one pipeline | removes the TTL; `true` if the key exists (`PERSIST` alone answers 0 for a key that exists without a TTL) |
//! | `exists(key)` | `EXISTS key` | whether the key holds a value, without reading it (a value the facade could not decode exists) |
//!
//! TTLs are milliseconds, rounded up (a sub-millisecond TTL never becomes 0 or "never"), as
//! for `set`.
//!
//! **Counters.** Redis' `INCRBY`/`DECRBY` do not fit the contract: they are signed 64-bit (a
//! value above `i64::MAX = 9223372036854775807` is refused), they go below zero, and a key they
//! create has no TTL. So `incr`/`decr` run one small Lua script, atomically on the server: it
//! reads the value, checks that it is a counter, computes, and writes it back with
//! `SET … KEEPTTL` (or `SET … PX ms` when it creates the key). The arithmetic is done on the
//! decimal strings (Lua numbers are doubles, exact only to 2^53), so counters cover the whole
//! range `0..=u64::MAX` (18446744073709551615), like memcached's:
//!
//! * a value that is not a counter (not all ASCII digits: every JSON value the facade envelopes
//!   starts with byte `0xCE`; also `-5`, `1.5`, `""`), more than `u64::MAX`, or a key of
//!   another redis type (a list…) is [`Error::InvalidArgument`] naming the key, and is left as
//!   it was. Leading zeros written by another program (`007`) are read as the number;
//! * an `incr` that would pass `u64::MAX` is [`Error::InvalidArgument`] ("… would pass
//!   18446744073709551615 (u64::MAX); it was left unchanged"): redis counters never wrap
//!   silently (memcached's `incr` wraps to 0 instead);
//! * `decr` below zero gives 0.
//!
//! The script is sent once per server: the handler sends `EVALSHA <sha1>`, and when the server
//! answers `NOSCRIPT` (first use, after a restart or a `SCRIPT FLUSH`) it sends `SCRIPT LOAD`
//! and repeats the `EVALSHA` on the same connection (the `redis` crate's `Script`, feature
//! `script`). It needs redis ≥ 6.0 (`KEEPTTL`). The script costs the server more than a bare
//! `INCRBY`, but little next to a round trip.
//!
//! **After a lost connection.** Like every call, these are repeated once on a fresh connection
//! when a pooled connection turns out to have died (a server restart between two calls is
//! invisible). After a restart nothing had run, so the repeat is exact; the one imprecision is
//! a server that ran the command and dropped the connection before its reply left (killed in
//! that instant, `CLIENT KILL`): then a repeated `add` reports "not stored" and a repeated
//! `incr` applies the step twice.
//!
//! # Purge
//!
//! * `purge = "prefix"` (default): `SCAN 0 MATCH <prefix>* COUNT 1000`, then `UNLINK` of each
//!   batch found, until the cursor returns to 0. Only this app's keys go; other apps on the
//!   same server and database keep theirs (tested with two apps). Glob characters in the
//!   prefix (`* ? [ ] \`) are escaped, so a prefix like `x[yz]:` matches only itself. It never
//!   uses `KEYS` (which blocks the server) and never `FLUSHDB`. It is not atomic: keys written
//!   while it runs may survive it. With an empty `prefix`, every key in the database is this
//!   app's, and all of them go.
//! * `purge = "db"`: `FLUSHDB`, everything in the selected database, whoever wrote it. This is
//!   close to what Cement's redis handler did (`KEYS *` + `DEL`); choose it only for a database
//!   the app owns alone.
//!
//! # Topologies
//!
//! A section names exactly one topology: one server (`url`, or `host`/`port`), a Redis
//! Cluster (`cluster`) or a primary behind Sentinel (`sentinels` + `sentinel_master`). Two of
//! them (`url` with `cluster`, `cluster` with `sentinels`, …) fail at setup with
//! [`Error::Config`] naming both keys, as do an empty list, a malformed node (`"host"` without
//! a port, port 0, an `http://` url), `sentinels` without `sentinel_master` (or the other way
//! round) and `db` other than 0 with `cluster`. Everything else (timeouts, pool, purge,
//! failure policy, breaker, stats, spans) works as on one server.
//!
//! ```toml
//! # Redis Cluster: any of its nodes as seeds; the others are discovered.
//! [cache.redis]
//! cluster = ["10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"]
//! password = "s3cret"            # username/password/tls/tls_ca_file apply to every node
//! ```
//!
//! ```toml
//! # Sentinel: the primary that the sentinels name, followed across failovers.
//! [cache.redis]
//! sentinels = ["10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"]
//! sentinel_master = "mymaster"
//! db = 2                          # db/username/password/tls apply to the primary
//! ```
//!
//! Nodes are `"host:port"` (TLS with `tls = true`) or `redis://[user[:password]@]host:port`
//! / `rediss://…` urls; `username` and `password` of the section win over a url's for the data
//! nodes, and `tls_ca_file` is the CA for every TLS connection. A sentinel url's own password
//! authenticates to that sentinel (sentinels often have none, or one of their own).
//!
//! **Cluster.** Keys go to the slot redis computes for them: no hash tag is added, so keys
//! spread over all primaries. Single-key commands (`get`, `set`, `add`, `incr`, `touch`, …)
//! go to the key's primary, and `MOVED`/`ASK` redirections (a resharding in progress) are
//! followed by the client (redis-rs' `ClusterConnection`, which also refreshes its slot map).
//! `get_many`, `set_many` and `delete_many` send one pipeline per node involved (`GET`, `SET
//! [PX]`, `UNLINK` per key: multi-key commands need all keys in one slot on a cluster), all
//! sent before any reply is read, and return in key order. During a resharding (a slot
//! migrating between primaries: its moved keys answer `ASK`, then `MOVED`) a batch's
//! redirected commands go again one by one, following the redirection, so batches keep
//! working, only slower, until the migration ends (tested with a live `CLUSTER SETSLOT` +
//! `MIGRATE` in `tests/redis_cluster`); a `delete_many` caught by one then counts a lower
//! bound of the keys it removed. `purge = "prefix"` runs `SCAN
//! MATCH` + `UNLINK` on every primary (listed by `CLUSTER NODES`), never `KEYS`; `purge = "db"`
//! sends `FLUSHDB` to every primary. Counters and `add` stay single-key atomic: the counter
//! script touches only its key, which lives on one primary; its `SCRIPT LOAD` goes to every
//! node. While a primary fails over, calls on its slots fail with [`Error::Unavailable`] (or
//! [`Error::Timeout`]) after a few quick retries (`CLUSTERDOWN`, `TRYAGAIN`, a refused node, a
//! `MOVED` that redis-rs's async client hands back while the slot map changes),
//! then work again with no action: measured here with `--cluster-node-timeout 3000`, about
//! 5.5 s from the kill to the first successful call.
//!
//! **Sentinel.** Each new connection asks the sentinels in turn for the primary (`SENTINEL
//! get-master-addr-by-name`; one that is down or does not answer within the timeouts is
//! skipped), connects to it with the section's auth, TLS and `db`, and checks with `ROLE` that
//! it is a primary. When the primary dies, pooled connections fail ([`Error::Unavailable`]) and
//! are dropped; one to a primary demoted to a replica answers `READONLY` and is dropped with
//! the other idle ones, the call repeated once on a fresh connection. So after a failover the
//! handler finds the promoted replica by itself (about 2 s after the kill here, with
//! `down-after-milliseconds 1000`).
//!
//! # Auth
//!
//! * `requirepass`: set `password` (or `redis://:password@host`).
//! * ACL users: `username` + `password` (or `redis://user:password@host`). A user restricted
//!   to the app's keys works, e.g. `ACL SETUSER cacheuser on >s3cret ~myapp:* +@all` (at least
//!   `GET`, `SET`, `MGET`, `MSET`, `UNLINK`, `SCAN`, `EXISTS`, `PEXPIRE`, `PERSIST`, `EVALSHA`
//!   and `SCRIPT LOAD` for the counters, plus `FLUSHDB` for `purge = "db"`); a command on keys
//!   outside its pattern fails with [`Error::Backend`] saying so. The counters' script names
//!   its key (`KEYS[1]`), so key patterns apply to it as to the plain commands.
//! * A wrong password is [`Error::Backend`] ("authentication … failed; check [cache.redis]
//!   username and password"); a missing one on a server that needs it says to set `password`.
//!
//! The password is never printed: not by `Debug` of the settings (a password inside `url` is
//! shown as `***`), the handler or the app's cache, not in error messages (client messages are
//! scrubbed of it), not in log events.
//!
//! # TLS
//!
//! Use a `rediss://` url or `tls = true` with `host`/`port`; set `tls_ca_file` to the PEM CA
//! certificate that signed the server's certificate when it is not in the system's trust store
//! (self-signed setups). The server name is verified against the certificate (`localhost`, a
//! DNS name or an IP address in its subjectAltName). TLS is rustls with the `ring` provider,
//! built in with the `redis` feature; nothing needs OpenSSL at run time. Debian's
//! `redis-server` 7.0 has TLS (`--tls-port`, `--tls-cert-file`, `--tls-key-file`,
//! `--tls-ca-cert-file`; `--tls-cluster yes` for the cluster bus, whose slot map then names the
//! TLS ports), and the tests run against it, one server and a TLS-only cluster, with a CA and
//! certificate they generate with the `openssl` CLI.
//!
//! A certificate the client does not trust (signed by a CA other than `tls_ca_file`'s, or not
//! naming the host) is [`Error::Backend`]: "the TLS certificate of … is not trusted (…); set
//! [cache.redis] tls_ca_file …", a settings fault like a wrong password, not an outage. A
//! server that does not speak TLS on that port is [`Error::Unavailable`] or [`Error::Timeout`].
//!
//! # Failures
//!
//! * Setup never connects: an app starts while redis is down.
//! * Connections are opened on demand from a small pool (`pool_size`). A refused connection
//!   fails at once with [`Error::Unavailable`] (naming the server and the keys to check); a
//!   server that accepts but never answers fails with [`Error::Timeout`] at `connect_timeout`
//!   (the whole handshake is bounded, not each round trip); a command without a reply fails
//!   with [`Error::Timeout`] at `response_timeout`. A connection that saw a timeout or an I/O
//!   error is dropped, never reused (it could hold a late reply).
//! * Recovery is automatic: the first call after the server is back opens a new connection.
//!   When a pooled connection turns out to have died while idle (the server restarted), the
//!   other idle ones are dropped too and the call is retried once on a fresh connection, so a
//!   restart between two calls is invisible. Data is whatever the server kept (nothing,
//!   without persistence).
//! * `app.close()` closes the pool; later calls fail with [`Error::Unavailable`] saying so.
//!
//! # Async
//!
//! With the feature `redis-async` (which enables cement's `tokio`), the handler also implements
//! [`AsyncCacheHandler`](cement::cache::AsyncCacheHandler), and `app.async_cache()` awaits it
//! natively instead of running the sync handler on tokio's blocking pool: one multiplexed
//! connection per handler (redis-rs's `ConnectionManager`), opened on the first async call on
//! that call's runtime (the app may be set up outside any runtime; use one runtime per app),
//! reconnecting by itself after a restart (calls fail with [`Error::Unavailable`] or
//! [`Error::Timeout`] while the server is down; a call that finds the connection dead since
//! its last use is repeated once, as above). Same settings, commands, purge and counter script
//! as the sync side; `connect_timeout` bounds each connection attempt and `response_timeout`
//! each command; `pool_size` is the sync side's alone. A future dropped mid-call leaves its
//! reply to the connection's driver task, which discards it: the next caller never reads it.
//! `app.close()` drops the connection too.
//!
//! A Redis Cluster and Sentinel are native async as well, with the guarantees of the sync side
//! (see [Topologies](#topologies)); no call of theirs goes to the blocking pool:
//!
//! * **Cluster**: one redis-rs async `ClusterConnection` (one multiplexed connection per node),
//!   built from the same client as the sync side (seeds, auth, TLS, timeouts, the few quick
//!   retries), opened on the first async call. Single-key commands go to the key's primary,
//!   `MOVED`/`ASK` followed; counters and `add` stay single-key atomic (the same script).
//!   `get_many`, `set_many` and `delete_many` send one `GET`/`SET [PX]`/`UNLINK` per key, all
//!   handed to the connection before any reply is awaited, so each node's commands go out
//!   pipelined and a batch waits about one round trip per node, in parallel; results in key
//!   order. (Not redis-rs's cross-slot `MGET`: it splits it per slot and does not follow a
//!   `MOVED` in the parts.) `purge` runs `SCAN MATCH` + `UNLINK` on every primary. A
//!   connection that saw an I/O error or a timeout is replaced by a fresh one on the next call
//!   (redis-rs 1.8's async cluster client can otherwise stall after a primary is killed):
//!   while a primary fails over, calls on its slots fail with [`Error::Unavailable`] or
//!   [`Error::Timeout`], then work again with no action — measured in `tests/redis_cluster`
//!   (16 tasks, `--cluster-node-timeout 3000`): about 170 failed calls, nearly all timeouts at
//!   `response_timeout = 0.5`, and every task served again about 6 s after the kill.
//! * **Sentinel**: the primary is asked of the sentinels in turn (one that is down is skipped)
//!   and checked with `ROLE`, as on the sync side, then used over one multiplexed connection.
//!   After an I/O error, a timeout or `READONLY` (a demoted primary) the next call asks the
//!   sentinels again, so the handler follows a failover by itself: all 16 tasks were served by
//!   the promoted replica about 2 s after the kill in the test.
//!
//! ```no_run
//! # #[cfg(not(feature = "redis-async"))] fn main() {}
//! # #[cfg(feature = "redis-async")]
//! # fn main() -> cement::Result<()> {
//! use cement::App;
//!
//! #[derive(App)]
//! #[app(label = "myapp", extensions = ["redis"], cache_handler = "redis")]
//! struct MyApp;
//!
//! let app = MyApp::setup()?; // outside any runtime: nothing is connected yet
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! runtime.block_on(async {
//!     let cache = app.async_cache(); // connects on its first call, on this runtime
//!     cache.set("user:42", &vec![1, 2, 3]).await?;
//!     assert_eq!(cache.incr("views", 1).await?, 1);
//!     cement::Result::Ok(())
//! })?;
//! app.close()
//! # }
//! ```
//!
//! # Testing and benchmarks
//!
//! `cargo test --test redis` starts real `redis-server` processes on free loopback ports
//! (plain, `--requirepass`, an ACL user, `--tls-port` with a generated certificate), a
//! black-hole listener for timeouts, and kills/restarts servers for the recovery tests; it
//! needs `redis-server` and `openssl` (`scripts/test.sh` installs them). The shared conformance
//! suite runs on the handler. The redis-specific tests cover `add` with and without a TTL,
//! counters (created with a TTL that later steps keep, `decr` stopping at 0, the full `u64`
//! range and the overflow error, values that are not counters, 8 threads × 100 `incr` making
//! exactly 1..=800), the script's reload after `SCRIPT FLUSH` and after a server restart,
//! `touch(None)` leaving `PTTL = -1`, and all of them through an ACL user limited to the app's
//! keys.
//!
//! `cargo test --test redis_cluster` starts a 3-primary Redis Cluster (and one with a replica
//! per primary, whose primary it kills) with `redis-cli --cluster create`, and a primary +
//! replica + 3 sentinels, and runs the conformance suite, spread, purge, batch and failover
//! tests on them (`cement_ext::testing::{RedisCluster, RedisSentinels}`), through both faces:
//! the async conformance kit, a check that no blocking-pool thread is started, and 16 async
//! tasks riding out each failover. A TLS-only cluster (`RedisCluster::start_tls`) runs both
//! conformance kits with `tls = true` and with `rediss://` seeds, and a wrong CA on both faces;
//! TLS-only sentinels, primary and replica (`RedisSentinels::start_tls`) run both kits, a wrong
//! CA and a failover (`tls-replication yes`: the sentinels reach the servers over TLS, and the
//! replica announces its TLS port).
//!
//! `cargo bench --bench redis` compares the handler and `app.cache()` with the raw `redis`
//! client on the same server (and on a cluster, with a raw `ClusterConnection`), and the batch
//! forms with as many single calls; `cargo bench --bench async` compares `app.async_cache()`
//! with a raw `MultiplexedConnection` and, on a cluster, a raw async `ClusterConnection`;
//! `benches/README.md` in the repository says what it compares and gives the latest figures.

#[cfg(feature = "redis-async")]
mod aio;
#[cfg(feature = "redis-async")]
mod aio_topology;
mod cluster;
mod config;
mod counter;
mod error;
mod pool;
mod sentinel;
mod topology;

use std::fmt;
use std::time::Duration;

use cement::cache::key::shorten;
use cement::cache::{CacheHandler, Capabilities, HandlerSetup};
use cement::registry::HandlerContext;
use cement::{Error, Result};
use redis::RedisError;

pub use config::{
    defaults, Db, MaxValueSize, PoolSize, Port, PurgeMode, RedisSettings, Secret,
    DEFAULT_MAX_VALUE_SIZE, SECTION,
};

use counter::{Direction, Reply};
use error::{classify, is_stale_connection, keeps_connection, ErrorContext, Phase, BACKEND};
use pool::{CheckoutError, Pool};
use topology::{Conn, Topology};

cement::register_extension!(
    "redis",
    "redis cache handler (cement-ext feature \"redis\")"
);

/// How many keys one `SCAN` step asks for (and one `UNLINK` removes) during `purge`.
const PURGE_BATCH: usize = 1000;

/// Largest TTL sent, in milliseconds (about 292 million years); redis rejects expiry times that
/// overflow its clock arithmetic.
const MAX_TTL_MS: u64 = i64::MAX as u64 / 1000;

/// Cache handler backed by a redis server; see the [module docs](self).
///
/// Built by the framework from the `cache.redis` section, or by hand:
///
/// ```no_run
/// use cement::cache::{Cache, CacheHandler};
/// use cement_ext::redis::{RedisCacheHandler, RedisSettings};
///
/// let handler = RedisCacheHandler::new(RedisSettings {
///     port: 6380,
///     prefix: "demo:".into(),
///     ..Default::default()
/// })?;
/// let cache = Cache::new("redis", Box::new(handler), "demo:", None);
/// cache.set("k", &vec![1, 2, 3])?;
/// assert_eq!(cache.get::<Vec<i32>>("k")?, Some(vec![1, 2, 3]));
/// # Ok::<(), cement::Error>(())
/// ```
#[cement::cache_handler(label = "redis", extension = "redis", config_defaults = defaults)]
pub struct RedisCacheHandler {
    pool: Pool,
    errors: ErrorContext,
    prefix: String,
    purge: PurgeMode,
    max_value_size: usize,
    /// The `incr`/`decr` script ([`counter`]).
    counter: redis::Script,
    /// The async side's multiplexed connection ([`aio`], [`aio_topology`]), on every topology.
    #[cfg(feature = "redis-async")]
    native: aio_topology::AsyncSide,
}

impl fmt::Debug for RedisCacheHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (open, idle) = self.pool.counts();
        f.debug_struct("RedisCacheHandler")
            .field("target", &self.errors.target)
            .field("prefix", &self.prefix)
            .field("purge", &self.purge)
            .field("pool_size", &self.pool.max_size())
            .field("open_connections", &open)
            .field("idle_connections", &idle)
            .finish_non_exhaustive()
    }
}

impl HandlerSetup for RedisCacheHandler {
    fn setup(ctx: &HandlerContext<'_>) -> Result<Self> {
        RedisCacheHandler::new(RedisSettings {
            prefix: ctx.prefix()?,
            ..ctx.settings()?
        })
    }
}

impl RedisCacheHandler {
    /// A handler for these settings. Nothing is connected yet, so this succeeds while the
    /// server is down; it fails only on bad settings ([`Error::Config`]).
    pub fn new(settings: RedisSettings) -> Result<Self> {
        let resolved = settings.resolve()?;
        let (connect_timeout, response_timeout) =
            (resolved.connect_timeout, resolved.response_timeout);
        let topology = Topology::of(&settings, resolved)?;
        #[cfg(feature = "redis-async")]
        let native = aio_topology::AsyncSide::of(&topology.plan, connect_timeout, response_timeout);
        let errors = ErrorContext {
            target: topology.target.clone(),
            tls: topology.tls,
            password: topology.password.clone(),
            connect_timeout,
            response_timeout,
        };
        let pool_size = usize::try_from(settings.pool_size).unwrap_or(usize::MAX);
        let pool = Pool::new(
            topology.opener(connect_timeout, response_timeout),
            pool_size,
            connect_timeout,
        );
        Ok(RedisCacheHandler {
            pool,
            errors,
            prefix: settings.prefix,
            purge: settings.purge,
            max_value_size: usize::try_from(settings.max_value_size).unwrap_or(usize::MAX),
            counter: counter::script(),
            #[cfg(feature = "redis-async")]
            native,
        })
    }

    /// The server this handler talks to, as errors name it: `redis://host:port/db` (or
    /// `rediss://`), plus the ACL user; never the password.
    pub fn target(&self) -> &str {
        &self.errors.target
    }

    /// The prefix `purge` removes keys under.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Runs `op` on a pooled connection. If a connection taken from the idle list turns out to
    /// have died meanwhile (the server restarted), the other idle ones are dropped too and
    /// `op` runs once more on a fresh connection. After a restart nothing had run, so the
    /// repeat is exact. The imprecision is confined to a server that ran the command and then
    /// dropped the connection before its reply left (killed in that instant, `CLIENT KILL`):
    /// the repeat of an `UNLINK` then reports the key as absent, of an `add` reports it as not
    /// stored, and of an `incr`/`decr` applies the step twice.
    fn run<T>(&self, op: impl Fn(&mut Conn) -> redis::RedisResult<T>) -> Result<T> {
        let mut pooled = self.checkout()?;
        let Some(conn) = pooled.conn() else {
            return Err(self.closed());
        };
        let err = match op(conn) {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        if !keeps_connection(&err) {
            pooled.mark_broken();
        }
        if pooled.fresh || !is_stale_connection(&err) {
            return Err(self.command_error(&err));
        }
        tracing::debug!(target: "cement_ext::redis", "reconnecting to {}: a pooled connection had died", self.errors.target);
        drop(pooled);
        self.pool.discard_idle();
        let mut pooled = self.checkout()?;
        let Some(conn) = pooled.conn() else {
            return Err(self.closed());
        };
        op(conn).map_err(|err| {
            if !keeps_connection(&err) {
                pooled.mark_broken();
            }
            self.command_error(&err)
        })
    }

    fn checkout(&self) -> Result<pool::Pooled<'_>> {
        self.pool.get().map_err(|err| match err {
            CheckoutError::Connect(err) => {
                let err = classify(&err, &self.errors, Phase::Connect);
                tracing::debug!(target: "cement_ext::redis", "{err}");
                err
            }
            CheckoutError::Exhausted { size, waited } => Error::Timeout {
                backend: BACKEND,
                source: format!(
                    "all {size} connections to {} stayed busy (or were still being opened) for {waited:?}; \
                     raise [cache.redis] pool_size (or connect_timeout, which is also how long a call waits \
                     for a free connection)",
                    self.errors.target
                )
                .into(),
            },
            CheckoutError::Closed => self.closed(),
        })
    }

    fn command_error(&self, err: &RedisError) -> Error {
        let err = classify(err, &self.errors, Phase::Command);
        tracing::debug!(target: "cement_ext::redis", "{err}");
        err
    }

    fn closed(&self) -> Error {
        Error::Unavailable {
            backend: BACKEND,
            source: "the redis cache handler was closed (the app was closed); set up the app again"
                .into(),
        }
    }

    /// One counter step through the script: atomic, one round trip.
    fn step(
        &self,
        key: &str,
        direction: Direction,
        delta: u64,
        ttl: Option<Duration>,
    ) -> Result<u64> {
        let invocation = self.counter_step(key, direction, delta, ttl);
        let reply = self.run(|conn| invocation.invoke::<(i64, String)>(conn))?;
        self.counter_outcome(key, direction, delta, &reply)
    }

    /// The script invocation of one counter step (both faces send it).
    fn counter_step(
        &self,
        key: &str,
        direction: Direction,
        delta: u64,
        ttl: Option<Duration>,
    ) -> redis::ScriptInvocation<'_> {
        let ttl = ttl
            .map(|ttl| ttl_millis(ttl).to_string())
            .unwrap_or_default();
        let mut invocation = self.counter.key(key);
        invocation
            .arg(direction.sign())
            .arg(delta.to_string())
            .arg(ttl);
        invocation
    }

    /// What the script's answer means for the caller.
    fn counter_outcome(
        &self,
        key: &str,
        direction: Direction,
        delta: u64,
        reply: &(i64, String),
    ) -> Result<u64> {
        let operation = direction.operation();
        match Reply::parse(reply) {
            Some(Reply::Value(value)) => Ok(value),
            Some(Reply::NotCounter) => Err(Error::InvalidArgument(format!(
                "cannot {operation} key {:?}: the value under it is not a counter (an unsigned \
                 integer stored as ASCII digits, up to {}); create counters with incr or set them \
                 to an unsigned integer",
                shorten(key),
                u64::MAX
            ))),
            Some(Reply::Overflow { current }) => Err(Error::InvalidArgument(format!(
                "cannot incr key {:?} by {delta}: the counter holds {current} and would pass \
                 {} (u64::MAX); it was left unchanged",
                shorten(key),
                u64::MAX
            ))),
            None => Err(Error::Backend {
                backend: BACKEND,
                source: format!(
                    "{} answered the {operation} script with {reply:?}, not {{status, value}}",
                    self.errors.target
                )
                .into(),
            }),
        }
    }

    /// `values` if MGET answered one per key.
    fn check_mget(
        &self,
        asked: usize,
        values: Vec<Option<Vec<u8>>>,
    ) -> Result<Vec<Option<Vec<u8>>>> {
        if values.len() != asked {
            return Err(Error::Backend {
                backend: BACKEND,
                source: format!(
                    "{} answered MGET of {asked} keys with {} values",
                    self.errors.target,
                    values.len()
                )
                .into(),
            });
        }
        Ok(values)
    }

    fn check_size(&self, value: &[u8]) -> Result<()> {
        if value.len() > self.max_value_size {
            return Err(Error::ValueTooLarge {
                backend: BACKEND,
                size: value.len(),
                limit: self.max_value_size,
                by_server: false,
            });
        }
        Ok(())
    }
}

/// A TTL in whole milliseconds, rounded up so that a tiny TTL never becomes 0 (which redis
/// refuses) or "never".
fn ttl_millis(ttl: Duration) -> u64 {
    let ms = ttl.as_millis() + u128::from(!ttl.subsec_nanos().is_multiple_of(1_000_000));
    u64::try_from(ms).unwrap_or(u64::MAX).clamp(1, MAX_TTL_MS)
}

/// `prefix` as a literal in a redis glob pattern (`SCAN MATCH`): `* ? [ ] \` escaped.
pub(crate) fn glob_escape(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 4);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn set_cmd(key: &str, value: &[u8], ttl: Option<Duration>) -> redis::Cmd {
    // Allocated once at its size (with room for `PX ms` and `NX`) rather than grown argument
    // by argument: the value can be large.
    let mut cmd = redis::Cmd::with_capacity(6, 3 + key.len() + value.len() + 24);
    cmd.arg("SET").arg(key).arg(value);
    if let Some(ttl) = ttl {
        cmd.arg("PX").arg(ttl_millis(ttl));
    }
    cmd
}

impl CacheHandler for RedisCacheHandler {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.run(|conn| redis::cmd("GET").arg(key).query(conn))
    }

    fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.check_size(value)?;
        let cmd = set_cmd(key, value, ttl);
        self.run(|conn| cmd.query::<()>(conn))
    }

    fn delete(&self, key: &str) -> Result<bool> {
        self.run(|conn| redis::cmd("UNLINK").arg(key).query::<u64>(conn))
            .map(|n| n > 0)
    }

    /// With `purge = "prefix"` (the default): every key under this handler's prefix, found with
    /// `SCAN MATCH` and removed with `UNLINK`, batch by batch; other apps' keys stay. With
    /// `purge = "db"`: `FLUSHDB`.
    fn purge(&self) -> Result<()> {
        match self.purge {
            PurgeMode::Db => self.run(Conn::flush),
            PurgeMode::Prefix => {
                let pattern = format!("{}*", glob_escape(&self.prefix));
                self.run(|conn| conn.purge_matching(&pattern))
            }
        }
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<Vec<u8>>> = self.run(|conn| conn.get_many(keys))?;
        self.check_mget(keys.len(), values)
    }

    fn set_many(&self, entries: &[(&str, &[u8])], ttl: Option<Duration>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        for (_, value) in entries {
            self.check_size(value)?;
        }
        self.run(|conn| conn.set_many(entries, ttl))
    }

    fn delete_many(&self, keys: &[&str]) -> Result<usize> {
        if keys.is_empty() {
            return Ok(0);
        }
        let removed = self.run(|conn| conn.delete_many(keys))?;
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }

    fn close(&self) -> Result<()> {
        self.pool.close();
        #[cfg(feature = "redis-async")]
        self.native.close();
        Ok(())
    }

    /// All of them: `add`, counters and `touch` are native and atomic.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    /// `SET key value NX [PX ms]`: `true` if it stored.
    fn add(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool> {
        self.check_size(value)?;
        let mut cmd = set_cmd(key, value, ttl);
        cmd.arg("NX");
        // `+OK` when stored, a nil reply when the key was there.
        self.run(|conn| cmd.query::<bool>(conn))
    }

    /// The counter script with `+`: a missing key starts from 0 and gets `ttl`; an existing
    /// one keeps its TTL. An increment past `u64::MAX` is an [`Error::InvalidArgument`] and
    /// leaves the counter unchanged.
    fn incr(&self, key: &str, delta: u64, ttl: Option<Duration>) -> Result<u64> {
        self.step(key, Direction::Up, delta, ttl)
    }

    /// The counter script with `-`: stops at 0; otherwise as [`incr`](Self::incr).
    fn decr(&self, key: &str, delta: u64, ttl: Option<Duration>) -> Result<u64> {
        self.step(key, Direction::Down, delta, ttl)
    }

    /// `PEXPIRE key ms`, or for `None` one pipeline of `PERSIST key` + `EXISTS key` (`PERSIST`
    /// answers 0 for a key that exists without a TTL, so it cannot tell on its own).
    fn touch(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        match ttl {
            Some(ttl) => {
                let mut cmd = redis::cmd("PEXPIRE");
                cmd.arg(key).arg(ttl_millis(ttl));
                self.run(|conn| cmd.query::<bool>(conn))
            }
            None => self.run(|conn| conn.persist(key)),
        }
    }

    /// `EXISTS key`.
    fn exists(&self, key: &str) -> Result<bool> {
        self.run(|conn| redis::cmd("EXISTS").arg(key).query::<bool>(conn))
    }

    /// The multiplexed async side (module `aio`), which `app.async_cache()` awaits natively, on
    /// every topology.
    #[cfg(feature = "redis-async")]
    fn as_async(&self) -> Option<&dyn cement::cache::AsyncCacheHandler> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_whole_milliseconds() {
        assert_eq!(ttl_millis(Duration::from_secs(2)), 2000);
        assert_eq!(ttl_millis(Duration::from_micros(1)), 1);
        assert_eq!(ttl_millis(Duration::from_micros(1500)), 2);
        assert_eq!(ttl_millis(Duration::ZERO), 1);
        assert_eq!(ttl_millis(Duration::MAX), MAX_TTL_MS);
    }

    #[test]
    fn long_keys_are_shortened_in_messages() {
        assert_eq!(shorten("app:k"), "app:k");
        let long = format!("{}é", "k".repeat(79));
        assert_eq!(shorten(&long), format!("{}… (81 bytes)", "k".repeat(79)));
    }

    #[test]
    fn glob_metacharacters_are_escaped() {
        assert_eq!(glob_escape("myapp:"), "myapp:");
        assert_eq!(glob_escape(r"we[ird]*?\:"), r"we\[ird\]\*\?\\:");
    }

    /// Collects the text of every tracing event emitted on this thread.
    #[derive(Default)]
    struct Capture(std::sync::Mutex<String>);

    struct Text<'a>(&'a mut String);

    impl tracing::field::Visit for Text<'_> {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
            self.0.push_str(&format!("{}={value:?}\n", field.name()));
        }
    }

    impl tracing::Subscriber for Capture {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            if let Ok(mut text) = self.0.lock() {
                event.record(&mut Text(&mut text));
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn logs_never_show_the_password() {
        use std::io::{Read, Write};
        const PASSWORD: &str = "correct-horse-battery";
        // A fake server that refuses every AUTH the way redis does.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for mut stream in listener.incoming().flatten() {
                let mut buf = [0u8; 512];
                let _ = stream.read(&mut buf);
                // AUTH fails; the pipelined CLIENT SETINFO calls succeed.
                let _ = stream
                    .write_all(b"-WRONGPASS invalid username-password pair\r\n+OK\r\n+OK\r\n");
                held.push(stream);
            }
        });
        let capture = std::sync::Arc::new(Capture::default());
        tracing::subscriber::with_default(std::sync::Arc::clone(&capture), || {
            let wrong = RedisCacheHandler::new(RedisSettings {
                url: Some(format!("redis://app:{PASSWORD}@127.0.0.1:{port}/0")),
                ..Default::default()
            })
            .unwrap();
            let err = wrong.get("k").unwrap_err();
            assert!(err.to_string().contains("authentication"), "{err}");
            assert!(!format!("{err} {err:?}").contains(PASSWORD), "{err:?}");
            let refused = RedisCacheHandler::new(RedisSettings {
                port: 1,
                password: Some(Secret::new(PASSWORD)),
                ..Default::default()
            })
            .unwrap();
            let err = refused.get("k").unwrap_err();
            assert!(
                !format!("{err} {err:?} {refused:?}").contains(PASSWORD),
                "{err:?}"
            );
        });
        // Which events reach a thread-scoped subscriber depends on which thread opened the
        // connection and on tracing's global callsite cache (other tests run concurrently), so
        // the capture may be partial; whatever was captured must not hold the password.
        let logged = capture.0.lock().unwrap().clone();
        assert!(!logged.contains(PASSWORD), "{logged}");
    }

    #[test]
    fn building_does_not_connect() {
        // Nothing listens on port 1; building must still work.
        let handler = RedisCacheHandler::new(RedisSettings {
            port: 1,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(handler.target(), "redis://127.0.0.1:1/0");
        let err = handler.get("x").unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    }
}
