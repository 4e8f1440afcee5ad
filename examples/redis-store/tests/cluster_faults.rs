//! The cluster changing under running refreshes: a slot migration, a
//! manual failover, a crashed primary, and a rotation lost by asynchronous
//! replication (the refresh table's row 6).
//!
//! These tests stop, kill and restart the processes of the local cluster
//! that `.ci/redis-cluster.sh` starts (they call it to restart a node), so
//! they need that cluster, on this machine. They run one at a time (a
//! lock), each starts from a healthy cluster and leaves one behind: every
//! node up, every slot served, every primary with its replica, and the
//! moved slot and the failed-over primary back where they were.
//!
//! What they assert is deterministic: never which side of a race won, only
//! what must hold whatever the interleaving (no theft reported, no lineage
//! forked or lost except where a write was lost, every successful refresh
//! counted once in the stored generation).

#![cfg(test)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use sessionkit::store::{SessionStore, StoreError};
use sessionkit::{RefreshError, RefreshKey, Rejection, SessionManager, SigningKey};
use sessionkit_redis::RedisStore;
use tokio::sync::Mutex;

/// One disruptive test at a time.
static CLUSTER: Mutex<()> = Mutex::const_new(());

/// Sessions refreshed at once while the cluster changes.
const LINEAGES: usize = 8;

/// A node as `CLUSTER NODES` describes it.
#[derive(Clone, Debug)]
struct Node {
    id: String,
    host: String,
    port: u16,
    primary: bool,
    primary_id: String,
    slots: Vec<(u16, u16)>,
}

impl Node {
    fn url(&self) -> String {
        format!("redis://{}:{}", self.host, self.port)
    }

    fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| a <= slot && slot <= b)
    }
}

async fn admin(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("admin connection")
}

async fn try_admin(url: &str) -> Option<MultiplexedConnection> {
    let client = redis::Client::open(url).ok()?;
    tokio::time::timeout(
        Duration::from_secs(1),
        client.get_multiplexed_async_connection(),
    )
    .await
    .ok()?
    .ok()
}

async fn query<T: redis::FromRedisValue>(url: &str, cmd: &redis::Cmd) -> T {
    let mut conn = admin(url).await;
    cmd.query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// The cluster as the first reachable node sees it.
async fn topology() -> Vec<Node> {
    for url in common::cluster_nodes() {
        let Some(mut conn) = try_admin(&url).await else {
            continue;
        };
        let Ok(text): Result<String, _> = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut conn)
            .await
        else {
            continue;
        };
        return text.lines().filter_map(parse_node).collect();
    }
    panic!("no cluster node answers");
}

fn parse_node(line: &str) -> Option<Node> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let addr = fields.get(1)?.split('@').next()?;
    let (host, port) = addr.rsplit_once(':')?;
    let flags = fields.get(2)?;
    let slots = fields
        .iter()
        .skip(8)
        .filter(|s| !s.starts_with('['))
        .filter_map(|s| match s.split_once('-') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => s.parse().ok().map(|a| (a, a)),
        })
        .collect();
    Some(Node {
        id: (*fields.first()?).to_owned(),
        host: host.to_owned(),
        port: port.parse().ok()?,
        primary: flags.contains("master"),
        primary_id: (*fields.get(3)?).to_owned(),
        slots,
    })
}

/// The primary serving `slot` and its replica.
async fn owners(slot: u16) -> (Node, Node) {
    let nodes = topology().await;
    let primary = nodes
        .iter()
        .find(|n| n.primary && n.serves(slot))
        .cloned()
        .expect("a primary serves the slot");
    let replica = nodes
        .iter()
        .find(|n| !n.primary && n.primary_id == primary.id)
        .cloned()
        .expect("the primary has a replica");
    (primary, replica)
}

async fn info(url: &str, section: &str, field: &str) -> Option<String> {
    let mut conn = try_admin(url).await?;
    let text: String = redis::cmd("INFO")
        .arg(section)
        .query_async(&mut conn)
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_owned())
}

async fn cluster_info(url: &str, field: &str) -> Option<String> {
    let mut conn = try_admin(url).await?;
    let text: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async(&mut conn)
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_owned())
}

/// Starts any node that is down (`.ci/redis-cluster.sh start`, which is
/// idempotent and waits for `cluster_state:ok`), then waits until every
/// node agrees, every slot is served and every primary has a replica in
/// sync.
async fn ensure_healthy() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.ci/redis-cluster.sh");
    let status = tokio::process::Command::new("bash")
        .arg(script)
        .arg("start")
        .status()
        .await
        .expect("run .ci/redis-cluster.sh");
    assert!(status.success(), ".ci/redis-cluster.sh start failed");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if healthy().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster did not become healthy"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn healthy() -> bool {
    let urls = common::cluster_nodes();
    for url in &urls {
        if cluster_info(url, "cluster_state").await.as_deref() != Some("ok")
            || cluster_info(url, "cluster_slots_ok").await.as_deref() != Some("16384")
            || cluster_info(url, "cluster_known_nodes").await != Some(urls.len().to_string())
        {
            return false;
        }
        match info(url, "replication", "role").await.as_deref() {
            Some("master") => {
                if info(url, "replication", "connected_slaves")
                    .await
                    .as_deref()
                    != Some("1")
                {
                    return false;
                }
            }
            Some("slave") => {
                if info(url, "replication", "master_link_status")
                    .await
                    .as_deref()
                    != Some("up")
                    || info(url, "replication", "master_sync_in_progress")
                        .await
                        .as_deref()
                        != Some("0")
                {
                    return false;
                }
            }
            _ => return false,
        }
    }
    let nodes = topology().await;
    nodes.iter().filter(|n| n.primary).count() == urls.len() / 2
}

/// Waits until the node at `url` reports `role`.
async fn wait_role(url: &str, role: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while info(url, "replication", "role").await.as_deref() != Some(role) {
        assert!(Instant::now() < deadline, "{url} did not become {role}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn pid(url: &str) -> String {
    info(url, "server", "process_id").await.expect("process id")
}

async fn signal(pid: &str, sig: &str) {
    let status = tokio::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid)
        .status()
        .await
        .expect("kill");
    assert!(status.success(), "kill -{sig} {pid}");
}

/// How long a node's election votes stay counted: Redis (7.0) treats an
/// election as still running for twice the auth timeout, 2 × 2 × the node
/// timeout (2,000 ms in `.ci/redis-cluster.sh`), and keeps its votes. A
/// manual failover asked of a node inside that window "wins" at once with
/// the old votes and its old epoch, a configuration the rest of the cluster
/// rejects, and the node becomes a replica again; so a failover waits the
/// window out (with a margin).
const ELECTION_WINDOW: Duration = Duration::from_secs(9);

/// When each node (by id) last won an election in these tests.
static ELECTIONS: std::sync::Mutex<BTreeMap<String, Instant>> =
    std::sync::Mutex::new(BTreeMap::new());

fn elected(node: &Node) {
    ELECTIONS
        .lock()
        .expect("elections")
        .insert(node.id.clone(), Instant::now());
}

/// A manual failover (`CLUSTER FAILOVER` on the replica): the primary
/// stops writes, the replica catches up, then takes over; nothing is lost.
/// Done when the old primary replicates from the new one (a node that only
/// said "master" for a moment has not taken over). A manual failover gives
/// up when the replica cannot catch up within Redis's own timeout (a busy
/// machine); then it is asked again, up to three times.
async fn manual_failover(replica: &Node, primary: &Node) {
    for _ in 0..3 {
        let last = ELECTIONS
            .lock()
            .expect("elections")
            .get(&replica.id)
            .copied();
        if let Some(at) = last {
            tokio::time::sleep_until((at + ELECTION_WINDOW).into()).await;
        }
        if info(&replica.url(), "replication", "role").await.as_deref() != Some("master") {
            let _: String = query(&replica.url(), redis::cmd("CLUSTER").arg("FAILOVER")).await;
            elected(replica);
        }
        if replica_of_within(primary, replica, Duration::from_secs(20)).await {
            wait_role(&replica.url(), "master").await;
            return;
        }
    }
    panic!(
        "{} did not take over from {} in three manual failovers",
        replica.url(),
        primary.url()
    );
}

/// Whether `node` becomes a replica of `primary`, its link up, within
/// `bound`.
async fn replica_of_within(node: &Node, primary: &Node, bound: Duration) -> bool {
    let deadline = Instant::now() + bound;
    let url = node.url();
    loop {
        let role = info(&url, "replication", "role").await;
        let port = info(&url, "replication", "master_port").await;
        let link = info(&url, "replication", "master_link_status").await;
        if role.as_deref() == Some("slave")
            && port == Some(primary.port.to_string())
            && link.as_deref() == Some("up")
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Moves `slot` from `from` to `to`, one key at a time with a pause
/// between, so that commands meet `ASK` and `TRYAGAIN` on the way.
async fn migrate_slot(slot: u16, from: &Node, to: &Node, pause: Duration) {
    let _: String = query(
        &to.url(),
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("IMPORTING")
            .arg(&from.id),
    )
    .await;
    let _: String = query(
        &from.url(),
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("MIGRATING")
            .arg(&to.id),
    )
    .await;
    let mut moved = 0;
    loop {
        let keys: Vec<String> = query(
            &from.url(),
            redis::cmd("CLUSTER").arg("GETKEYSINSLOT").arg(slot).arg(1),
        )
        .await;
        let Some(key) = keys.first() else {
            break;
        };
        let _: String = query(
            &from.url(),
            redis::cmd("MIGRATE")
                .arg(&to.host)
                .arg(to.port)
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("REPLACE")
                .arg("KEYS")
                .arg(key),
        )
        .await;
        moved += 1;
        tokio::time::sleep(pause).await;
    }
    println!("migrated slot {slot}: {moved} keys");
    // The new owner first, then the old one, then everyone else.
    let _: String = query(
        &to.url(),
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("NODE")
            .arg(&to.id),
    )
    .await;
    let _: String = query(
        &from.url(),
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("NODE")
            .arg(&to.id),
    )
    .await;
    for node in topology().await.iter().filter(|n| n.primary) {
        let _: Result<String, _> = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("NODE")
            .arg(&to.id)
            .query_async(&mut admin(&node.url()).await)
            .await;
    }
}

fn manager(store: RedisStore) -> Arc<SessionManager<RedisStore>> {
    Arc::new(
        SessionManager::builder(store)
            .signing_key(SigningKey::hs256("k", &[1; 32]).expect("key"))
            .refresh_key(RefreshKey::new(1, &[2; 32]).expect("key"))
            .build()
            .expect("manager"),
    )
}

/// How one lineage's refreshes went.
#[derive(Debug, Default)]
struct Run {
    successes: u64,
    store_errors: u64,
    /// The refresh that ended the lineage, if one did.
    ended: Option<String>,
    lost_write: bool,
    token: String,
}

/// Refreshes one lineage until `stop`: a store error is retried with the
/// same token (what a client does), anything else but success ends it.
async fn drive(
    manager: Arc<SessionManager<RedisStore>>,
    token: String,
    stop: Arc<AtomicBool>,
) -> Run {
    let mut run = Run {
        token,
        ..Run::default()
    };
    while !stop.load(Ordering::Relaxed) {
        match manager.refresh(&run.token).await {
            Ok(next) => {
                run.token = next.refresh_token.expose().to_owned();
                run.successes += 1;
            }
            Err(RefreshError::Store(_)) => {
                run.store_errors += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(RefreshError::Unauthorized(Rejection::FutureGeneration)) => {
                run.lost_write = true;
                run.ended = Some("unauthorized: a generation the store never reached".into());
                return run;
            }
            Err(e) => {
                run.ended = Some(format!("{e:?}"));
                return run;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    run
}

/// `LINEAGES` sessions of one user (so all in one slot), refreshed in a
/// loop while `disrupt` runs, then stopped. Returns the slot and the runs
/// with their handles.
async fn under_load<F, Fut>(
    store: &RedisStore,
    label: &str,
    disrupt: F,
) -> Vec<(sessionkit::SessionHandle, Run)>
where
    F: FnOnce(u16) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let manager = manager(store.clone());
    let user = format!("{label}-{}", common::unique_prefix("user"));
    let slot = store.placement_tag(&user);
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..LINEAGES {
        let tokens = manager.create(&user).await.expect("create");
        assert_eq!(tokens.handle.tag(), slot, "placed in the user's slot");
        let task = tokio::spawn(drive(
            Arc::clone(&manager),
            tokens.refresh_token.expose().to_owned(),
            Arc::clone(&stop),
        ));
        tasks.push((tokens.handle, task));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    disrupt(slot).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut runs = Vec::new();
    for (handle, task) in tasks {
        runs.push((handle, task.await.expect("refresh task")));
    }
    runs
}

/// What must hold after any disruption: no theft was reported, no lineage
/// ended but by a lost write, each surviving lineage's stored generation
/// counts exactly its successful refreshes (no fork, none applied twice),
/// and its last token still refreshes.
async fn check_lineages(
    store: &RedisStore,
    runs: &[(sessionkit::SessionHandle, Run)],
    lost_allowed: bool,
) {
    let manager = manager(store.clone());
    for (handle, run) in runs {
        println!(
            "{handle}: {} refreshes, {} store errors retried, ended: {:?}",
            run.successes, run.store_errors, run.ended
        );
        assert!(run.successes > 0, "{handle}: the lineage made progress");
        if run.lost_write {
            assert!(lost_allowed, "{handle}: a rotation was lost");
            continue;
        }
        assert_eq!(run.ended, None, "{handle}: no refresh failed");
        let record = store
            .load(handle)
            .await
            .expect("load")
            .expect("the session lives");
        assert_eq!(
            record.generation, run.successes,
            "{handle}: one rotation per successful refresh"
        );
        manager
            .refresh(&run.token)
            .await
            .expect("the last token still refreshes");
    }
}

/// The cluster to disrupt, or `None` after printing why.
async fn local_cluster(label: &str) -> Option<(RedisStore, common::Cleanup)> {
    let nodes = common::cluster_nodes();
    if !nodes.iter().all(|n| n.contains("127.0.0.1")) {
        assert!(
            !common::services_required(),
            "REDIS_CLUSTER_NODES names nodes other than 127.0.0.1, and these tests stop and \
             restart the local cluster's processes (SESSIONKIT_REQUIRE_SERVICES=1)"
        );
        println!("skipped: these tests stop and restart the local cluster's processes");
        return None;
    }
    let found = common::cluster_store_or_skip(label).await?;
    ensure_healthy().await;
    Some(found)
}

/// A slot holding live sessions moves to another primary, key by key,
/// while they are refreshed, then moves back: every refresh follows the
/// `ASK`/`MOVED` redirections (or waits out `TRYAGAIN`), none fails, none
/// is applied twice, no lineage forks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sec_20_slot_migration_under_refreshes_loses_and_forks_nothing() {
    let _one = CLUSTER.lock().await;
    let Some((store, _cleanup)) = local_cluster("migrate").await else {
        return;
    };
    let runs = under_load(&store, "migrate", |slot| async move {
        let (from, _) = owners(slot).await;
        let to = topology()
            .await
            .into_iter()
            .find(|n| n.primary && n.id != from.id)
            .expect("another primary");
        migrate_slot(slot, &from, &to, Duration::from_millis(30)).await;
        assert_eq!(owners(slot).await.0.id, to.id, "the slot moved");
        tokio::time::sleep(Duration::from_millis(300)).await;
        migrate_slot(slot, &to, &from, Duration::from_millis(30)).await;
        assert_eq!(owners(slot).await.0.id, from.id, "the slot moved back");
    })
    .await;
    check_lineages(&store, &runs, false).await;
    for (_, run) in &runs {
        assert_eq!(run.store_errors, 0, "redirections are followed, not failed");
    }
    ensure_healthy().await;
}

/// A manual failover of the sessions' primary under refreshes, and back:
/// no theft, no refresh refused, every rotation kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sec_18_manual_failover_under_refreshes_raises_no_false_theft() {
    let _one = CLUSTER.lock().await;
    let Some((store, _cleanup)) = local_cluster("failover").await else {
        return;
    };
    let runs = under_load(&store, "failover", |slot| async move {
        let (primary, replica) = owners(slot).await;
        manual_failover(&replica, &primary).await;
        ensure_healthy().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (now, back) = owners(slot).await;
        assert_eq!(now.id, replica.id, "the replica is the primary now");
        assert_eq!(back.id, primary.id, "the old primary is the replica now");
        manual_failover(&back, &now).await;
    })
    .await;
    check_lineages(&store, &runs, false).await;
    ensure_healthy().await;
}

/// The sessions' primary is killed under refreshes; the cluster promotes
/// its replica; the node is restarted (it rejoins as a replica) and made
/// primary again. Refreshes fail with store errors while the slot has no
/// primary and are retried with the same token: no theft is ever reported,
/// and a lineage ends only where a rotation acknowledged by the dead
/// primary had not reached the replica (then as unauthorized).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sec_18_primary_crash_under_refreshes_raises_no_false_theft() {
    let _one = CLUSTER.lock().await;
    let Some((store, _cleanup)) = local_cluster("crash").await else {
        return;
    };
    let runs = under_load(&store, "crash", |slot| async move {
        let (primary, replica) = owners(slot).await;
        signal(&pid(&primary.url()).await, "KILL").await;
        wait_role(&replica.url(), "master").await;
        elected(&replica);
        tokio::time::sleep(Duration::from_millis(500)).await;
        ensure_healthy().await;
        let (promoted, restarted) = owners(slot).await;
        assert_eq!(
            restarted.id, primary.id,
            "the restarted node is the replica"
        );
        manual_failover(&restarted, &promoted).await;
    })
    .await;
    check_lineages(&store, &runs, true).await;
    ensure_healthy().await;
}

/// The refresh table's row 6: a rotation acknowledged by a primary and lost with
/// it (asynchronous replication: the replica never received it) ends, for
/// the client holding the newer token, as unauthorized, never as theft;
/// and the token it replaced works again (what the failover lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn row_6_rotation_lost_by_failover_is_unauthorized_not_theft() {
    let _one = CLUSTER.lock().await;
    let Some((store, _cleanup)) = local_cluster("lost-write").await else {
        return;
    };
    let manager = manager(store.clone());
    let user = format!("lost-{}", common::unique_prefix("user"));
    let slot = store.placement_tag(&user);
    let (primary, replica) = owners(slot).await;
    let created = manager.create(&user).await.expect("create");
    let first = manager
        .refresh(created.refresh_token.expose())
        .await
        .expect("refresh");
    let older = first.refresh_token.expose().to_owned();
    // Everything so far is on the replica.
    let acked: i64 = query(&primary.url(), redis::cmd("WAIT").arg(1).arg(5000)).await;
    assert_eq!(acked, 1, "the replica caught up");

    // Cut the replica off: stopped, so it cannot reconnect and resync.
    let replica_pid = pid(&replica.url()).await;
    signal(&replica_pid, "STOP").await;
    let _: i64 = query(
        &primary.url(),
        redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("replica"),
    )
    .await;
    // Acknowledged by the primary alone.
    let newer = manager
        .refresh(&older)
        .await
        .expect("rotation on the primary")
        .refresh_token
        .expose()
        .to_owned();
    // The primary dies with it; the replica takes over without it.
    signal(&pid(&primary.url()).await, "KILL").await;
    signal(&replica_pid, "CONT").await;
    let _: String = query(
        &replica.url(),
        redis::cmd("CLUSTER").arg("FAILOVER").arg("TAKEOVER"),
    )
    .await;
    wait_role(&replica.url(), "master").await;

    // The newer token names a generation the store never reached.
    let deadline = Instant::now() + Duration::from_secs(60);
    let outcome = loop {
        match manager.refresh(&newer).await {
            Err(RefreshError::Store(StoreError::Backend(_) | StoreError::Timeout)) => {
                assert!(Instant::now() < deadline, "the cluster never answered");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => break other,
        }
    };
    assert!(
        matches!(
            outcome,
            Err(RefreshError::Unauthorized(Rejection::FutureGeneration))
        ),
        "a lost rotation is unauthorized, never theft: {outcome:?}"
    );
    // What was lost: the store is back at the older generation, whose
    // token is current again.
    let again = manager.refresh(&older).await;
    assert!(again.is_ok(), "the older token is current again: {again:?}");

    // Restart the dead node (it rejoins as a replica) and restore it.
    ensure_healthy().await;
    manual_failover(&primary, &replica).await;
    ensure_healthy().await;
}
