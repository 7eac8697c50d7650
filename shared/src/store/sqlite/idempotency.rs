//! A post with an `Idempotency-Key`, in SQLite: the key is read and the job written in one
//! write transaction, taken before the read, so no other post (nor another process on the
//! file) comes between them; the key's primary key holds one row per key whatever happens.
//! `idempotency::decide` says what a post does with a key it finds.

use std::time::Duration;

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::queries::insert_job;
use crate::{
    catalog::Stages,
    idempotency::{decide, Decision, Fingerprint, KeyRecord, KeyedOutcome, KeyedPost, SWEEP_LIMIT},
    ids::JobId,
    store::NewJob,
};

pub(super) fn create_job_with_key(
    conn: &mut Connection,
    job: &NewJob,
    stages: Stages,
    post: &KeyedPost,
) -> anyhow::Result<KeyedOutcome> {
    // IMMEDIATE: the write lock from the first statement, not from the first write, so the
    // key read is still true when the job is written.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let key = post.key.as_str();
    let existing = read_key(&tx, key)?;
    let outcome = match decide(existing.as_ref(), &post.fingerprint, post.retention) {
        Decision::Create => {
            let id = insert_job(&tx, job, stages)?;
            tx.execute(
                "INSERT INTO idempotency_keys (key, fingerprint, job_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint,
                     job_id = excluded.job_id, created_at = excluded.created_at",
                params![key, post.fingerprint.as_str(), id],
            )
            .context("writing an idempotency key")?;
            KeyedOutcome::Created(id)
        }
        Decision::Replay(id) => KeyedOutcome::Replayed(id),
        Decision::Conflict => KeyedOutcome::Conflict,
    };
    // Up to SWEEP_LIMIT expired keys other than this post's go.
    tx.execute(
        "DELETE FROM idempotency_keys WHERE key IN (
             SELECT key FROM idempotency_keys
             WHERE created_at <= unixepoch('subsec') - ?2 AND key <> ?1
             ORDER BY created_at LIMIT ?3)",
        params![key, post.retention.as_secs_f64(), SWEEP_LIMIT],
    )
    .context("deleting expired idempotency keys")?;
    tx.commit()?;
    Ok(outcome)
}

fn read_key(conn: &Connection, key: &str) -> anyhow::Result<Option<KeyRecord>> {
    let row = conn
        .query_row(
            "SELECT job_id, fingerprint, max(unixepoch('subsec') - created_at, 0)
             FROM idempotency_keys WHERE key = ?1",
            [key],
            |r| {
                Ok((
                    r.get::<_, Option<JobId>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, f64>(2)?,
                ))
            },
        )
        .optional()
        .context("reading an idempotency key")?;
    row.map(|(job_id, fingerprint, age)| {
        Ok(KeyRecord {
            job_id: job_id.with_context(|| format!("idempotency key {key:?} names no job"))?,
            fingerprint: Fingerprint::from_stored(fingerprint),
            age: Duration::try_from_secs_f64(age).unwrap_or(Duration::ZERO),
        })
    })
    .transpose()
}
