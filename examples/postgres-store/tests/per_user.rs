//! Bounded work per user (SEC-43): the session limit holds under
//! concurrency, and per-user statements touch only that user's rows.

#![cfg(test)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use futures_util::future::join_all;
use serde_json::Value;
use sessionkit::SessionHandle;
use sessionkit::store::{SessionRecord, SessionStore};
use sessionkit::testing::sample_record;
use sqlx::{AssertSqlSafe, Connection, PgPool};

use common::{TestSchema, admin};

/// SEC-43: 48 concurrent `insert_capped` calls for one user, spread over
/// two stores with their own pools (two instances of an application),
/// never leave the user with more than the limit, not even for a moment:
/// an observer counting the user's rows all along never sees more. (The
/// trait's default, an insert followed by a listing and deletions, cannot
/// promise this.) Every record is accounted for exactly once: either still
/// stored or returned as evicted by exactly one call, never by its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sec_43_concurrent_insert_capped_never_exceeds_the_limit() {
    const LIMIT: usize = 3;
    const CREATES: usize = 48;
    let Some(admin) = admin().await else { return };
    let schema = TestSchema::create(&admin).await;
    let a = schema.store(&common::unique_name("sk_cap_a")).await;
    let b = schema.store(&common::unique_name("sk_cap_b")).await;
    let user = common::unique_name("cap_user");
    let records: Vec<SessionRecord> = (0..CREATES)
        .map(|i| {
            let mut r = sample_record(&user);
            r.created_at += time::Duration::seconds(i64::try_from(i % 7).expect("small"));
            r
        })
        .collect();

    let done = Arc::new(AtomicBool::new(false));
    let most_seen = Arc::new(AtomicI64::new(0));
    let observer = tokio::spawn(observe_count(
        admin.clone(),
        count_sql(&schema),
        user.clone(),
        Arc::clone(&done),
        Arc::clone(&most_seen),
    ));
    let results = join_all(records.iter().enumerate().map(|(i, r)| {
        let store = if i % 2 == 0 { &a } else { &b };
        store.insert_capped(r, LIMIT)
    }))
    .await;
    done.store(true, Ordering::Relaxed);
    let observations = observer.await.expect("observer");

    let mut evicted = HashSet::new();
    for (r, result) in records.iter().zip(results) {
        let handles = result.expect("every create succeeds");
        assert!(
            !handles.contains(&r.handle),
            "a create evicted its own record"
        );
        for h in handles {
            assert!(evicted.insert(h), "{h:?} evicted twice");
        }
    }
    let left: HashSet<SessionHandle> = a
        .list_by_user(&user)
        .await
        .expect("list")
        .iter()
        .map(|r| r.handle)
        .collect();
    assert_eq!(left.len(), LIMIT, "the user ends at the limit");
    assert!(left.is_disjoint(&evicted));
    let all: HashSet<SessionHandle> = records.iter().map(|r| r.handle).collect();
    assert_eq!(
        left.union(&evicted).copied().collect::<HashSet<_>>(),
        all,
        "every record is stored or was reported evicted"
    );
    let most = most_seen.load(Ordering::Relaxed);
    println!("observer: {observations} counts, at most {most} rows");
    assert!(observations > 0);
    assert!(
        most <= i64::try_from(LIMIT).expect("small"),
        "the user held {most} sessions at one moment (limit {LIMIT})"
    );
}

fn count_sql(schema: &TestSchema) -> String {
    format!(
        "SELECT count(*) FROM \"{}\".sessionkit_sessions WHERE user_id = $1",
        schema.name
    )
}

/// Counts `user`'s rows (each count one snapshot) until `done`, keeping the
/// largest in `most`; returns how many counts it made.
async fn observe_count(
    admin: PgPool,
    sql: String,
    user: String,
    done: Arc<AtomicBool>,
    most: Arc<AtomicI64>,
) -> u64 {
    let mut observations = 0;
    while !done.load(Ordering::Relaxed) {
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(sql.clone()))
            .bind(&user)
            .fetch_one(&admin)
            .await
            .expect("count");
        most.fetch_max(n, Ordering::Relaxed);
        observations += 1;
    }
    observations
}

/// SEC-43: `list_by_user` and `delete_by_user` go through the `user_id`
/// index and read only that user's rows, among 20,000 of 2,000 users.
/// Checked on the store's own statements (their text as the server last
/// saw it from the store's connection), prepared and run under `EXPLAIN
/// ANALYZE` with both a custom and a generic plan, the deletion rolled
/// back; not on time.
#[tokio::test]
async fn sec_43_per_user_statements_use_the_user_index() {
    let Some(admin) = admin().await else { return };
    let schema = TestSchema::create(&admin).await;
    let app = common::unique_name("sk_user_index");
    let store = schema.store(&app).await;
    let table = format!("\"{}\".sessionkit_sessions", schema.name);
    // 10 sessions for each of 2,000 users, copied from one real record.
    let template = sample_record("template");
    store.insert(&template).await.expect("insert");
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {table} (handle, user_id, created_at, auth_time, absolute_expires_at, \
             refresh_expires_at, generation, current_hash, prev_hash, rotated_at, nonce, \
             access_claims, session_data, version) \
         SELECT substring(sha256(int8send(i)) FROM 1 FOR 18), 'user-' || (i % 2000), \
             created_at, auth_time, absolute_expires_at, refresh_expires_at, generation, \
             current_hash, prev_hash, rotated_at, nonce, access_claims, session_data, version \
         FROM {table}, generate_series(1, 20000) AS i"
    )))
    .execute(&admin)
    .await
    .expect("bulk insert");
    sqlx::query(AssertSqlSafe(format!("ANALYZE {table}")))
        .execute(&admin)
        .await
        .expect("analyze");

    let user_index = "sessionkit_sessions_user_id_idx";
    assert_eq!(store.list_by_user("user-7").await.expect("list").len(), 10);
    let list = last_statement(&admin, &app).await;
    assert!(list.contains("WHERE user_id = $1"), "{list}");
    for plan in explain(&admin, &list, "text", "'user-7'").await {
        assert_reads_only_the_users_rows(&plan, user_index, 10);
    }
    let keep = SessionHandle::from_bytes([0; 18]);
    assert_eq!(
        store
            .delete_by_user("user-8", Some(&keep))
            .await
            .expect("delete"),
        10
    );
    let delete = last_statement(&admin, &app).await;
    assert!(delete.starts_with("DELETE"), "{delete}");
    for plan in explain(&admin, &delete, "text, bytea", "'user-9', NULL").await {
        assert_reads_only_the_users_rows(&plan, user_index, 10);
    }
}

/// The last statement the store's connection `application_name` ran.
async fn last_statement(admin: &PgPool, application_name: &str) -> String {
    sqlx::query_scalar(
        "SELECT query FROM pg_stat_activity WHERE application_name = $1 \
         ORDER BY state_change DESC LIMIT 1",
    )
    .bind(application_name)
    .fetch_one(admin)
    .await
    .expect("the store's connection")
}

/// The plans of `sql`, prepared with parameter `types` and executed with
/// `args` under `EXPLAIN (ANALYZE, FORMAT JSON)`: once with a custom plan
/// (what a prepared statement gets for its first runs) and once with the
/// generic plan (what it may get after), each in a transaction rolled back.
async fn explain(admin: &PgPool, sql: &str, types: &str, args: &str) -> Vec<Value> {
    let mut conn = admin.acquire().await.expect("a connection");
    let mut plans = Vec::new();
    for mode in ["force_custom_plan", "force_generic_plan"] {
        let mut tx = conn.begin().await.expect("begin");
        for setup in [
            format!("SET LOCAL plan_cache_mode = {mode}"),
            format!("PREPARE per_user_statement ({types}) AS {sql}"),
        ] {
            sqlx::query(AssertSqlSafe(setup))
                .execute(&mut *tx)
                .await
                .expect("prepare");
        }
        let plan: Value = sqlx::query_scalar(AssertSqlSafe(format!(
            "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE per_user_statement ({args})"
        )))
        .fetch_one(&mut *tx)
        .await
        .expect("explain");
        tx.rollback().await.expect("rollback");
        // PREPARE is not transactional; only ours goes (sqlx keeps its
        // own prepared statements on this connection).
        sqlx::query("DEALLOCATE per_user_statement")
            .execute(&mut *conn)
            .await
            .expect("deallocate");
        plans.push(plan);
    }
    plans
}

/// The table is read through `index` only (an index scan, or a bitmap
/// heap scan over it), and every scan reads `rows` rows, none read and then
/// filtered away.
fn assert_reads_only_the_users_rows(plan: &Value, index: &str, rows: u64) {
    let mut scans = Vec::new();
    collect_scans(&plan[0]["Plan"], &mut scans);
    let through_index = scans.iter().filter(|n| n["Index Name"] == index).count();
    assert!(through_index > 0, "not through {index}: {plan:#}");
    for node in &scans {
        assert_ne!(node["Node Type"], "Seq Scan", "{plan:#}");
        if let Some(name) = node.get("Index Name") {
            assert_eq!(name, index, "{plan:#}");
        }
        assert_eq!(node["Actual Rows"], rows, "{plan:#}");
        for removed in ["Rows Removed by Filter", "Rows Removed by Index Recheck"] {
            let n = node.get(removed).and_then(Value::as_u64).unwrap_or(0);
            assert_eq!(n, 0, "{removed}: {plan:#}");
        }
    }
}

fn collect_scans<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
    if node["Node Type"]
        .as_str()
        .is_some_and(|t| t.contains("Scan"))
    {
        out.push(node);
    }
    for child in node["Plans"].as_array().into_iter().flatten() {
        collect_scans(child, out);
    }
}
