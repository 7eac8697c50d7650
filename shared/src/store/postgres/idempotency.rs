//! A post with an `Idempotency-Key`, in Postgres: the key is taken first, by an insert under
//! its primary key, and the job is written in the same transaction. A second post with the key
//! meanwhile waits in its own insert until the first commits, then reads the key and replays
//! the job (or rolls back, and the second takes the key). `idempotency::decide` says what a
//! post does with a key it finds.

use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::{Pool, Transaction};

use super::{insert_job, rows::get};
use crate::{
    catalog::Stages,
    idempotency::{decide, Decision, Fingerprint, KeyRecord, KeyedOutcome, KeyedPost, SWEEP_LIMIT},
    ids::JobId,
    store::NewJob,
};

/// Times a post tries to take a key that expired posts keep deleting under it; one more
/// than ever needed, so a bug shows as an error rather than a loop.
const CLAIM_ROUNDS: usize = 3;

pub(super) async fn create_job_with_key(
    pool: &Pool,
    job: &NewJob,
    stages: Stages,
    post: &KeyedPost,
) -> anyhow::Result<KeyedOutcome> {
    let mut client = pool.get().await.context("getting a Postgres connection")?;
    let tx = client
        .transaction()
        .await
        .context("starting a transaction")?;
    let existing = claim(&tx, post).await?;
    let outcome = match decide(existing.as_ref(), &post.fingerprint, post.retention) {
        Decision::Create => {
            if existing.is_some() {
                renew(&tx, post).await?;
            }
            let id = insert_job(&tx, job, stages).await?;
            tx.execute(
                &tx.prepare_cached("UPDATE idempotency_keys SET job_id = $2 WHERE key = $1")
                    .await?,
                &[&post.key.as_str(), &id],
            )
            .await
            .context("naming the key's job")?;
            KeyedOutcome::Created(id)
        }
        Decision::Replay(id) => KeyedOutcome::Replayed(id),
        Decision::Conflict => KeyedOutcome::Conflict,
    };
    // Last, so a post never waits on another while it holds the rows it deletes (which could
    // deadlock two posts each holding the other's expired key).
    sweep(&tx, post).await?;
    tx.commit().await.context("committing a keyed job")?;
    Ok(outcome)
}

/// Takes the key, or reads the row of whoever has it (locked, so that of two posts renewing
/// an expired key one does and the other sees its job). `None`: the key was free, and its new
/// row (no job yet) is this transaction's.
async fn claim(tx: &Transaction<'_>, post: &KeyedPost) -> anyhow::Result<Option<KeyRecord>> {
    let key = post.key.as_str();
    for _ in 0..CLAIM_ROUNDS {
        // An uncommitted row with this key (another post writing its job) makes this wait for
        // that transaction's end.
        let taken = tx
            .execute(
                &tx.prepare_cached(
                    "INSERT INTO idempotency_keys (key, fingerprint) VALUES ($1, $2)
                 ON CONFLICT (key) DO NOTHING",
                )
                .await?,
                &[&key, &post.fingerprint.as_str()],
            )
            .await
            .context("taking an idempotency key")?;
        if taken == 1 {
            return Ok(None);
        }
        let row = tx
            .query_opt(
                &tx.prepare_cached(
                    "SELECT job_id, fingerprint,
                        GREATEST(EXTRACT(EPOCH FROM now() - created_at), 0)::float8 AS age
                 FROM idempotency_keys WHERE key = $1 FOR UPDATE",
                )
                .await?,
                &[&key],
            )
            .await
            .context("reading an idempotency key")?;
        if let Some(row) = row {
            let job_id: Option<JobId> = get(&row, "job_id")?;
            let age: f64 = get(&row, "age")?;
            return Ok(Some(KeyRecord {
                job_id: job_id.with_context(|| format!("idempotency key {key:?} names no job"))?,
                fingerprint: Fingerprint::from_stored(get(&row, "fingerprint")?),
                age: Duration::try_from_secs_f64(age).unwrap_or(Duration::ZERO),
            }));
        }
        // Another post deleted it as expired between the two statements: take it again.
    }
    anyhow::bail!("idempotency key {key:?} kept changing hands")
}

/// The expired key, locked by `claim`, starts again as this post's.
async fn renew(tx: &Transaction<'_>, post: &KeyedPost) -> anyhow::Result<()> {
    tx.execute(
        &tx.prepare_cached(
            "UPDATE idempotency_keys SET fingerprint = $2, job_id = NULL, created_at = now()
         WHERE key = $1",
        )
        .await?,
        &[&post.key.as_str(), &post.fingerprint.as_str()],
    )
    .await
    .context("renewing an expired idempotency key")?;
    Ok(())
}

/// Deletes up to `SWEEP_LIMIT` expired keys other than this post's. SKIP LOCKED: a key another
/// post holds is left to it, and this never waits.
async fn sweep(tx: &Transaction<'_>, post: &KeyedPost) -> anyhow::Result<()> {
    tx.execute(
        "DELETE FROM idempotency_keys WHERE key IN (
             SELECT key FROM idempotency_keys
             WHERE created_at <= now() - make_interval(secs => $2) AND key <> $1
             ORDER BY created_at LIMIT $3
             FOR UPDATE SKIP LOCKED)",
        &[
            &post.key.as_str(),
            &post.retention.as_secs_f64(),
            &SWEEP_LIMIT,
        ],
    )
    .await
    .context("deleting expired idempotency keys")?;
    Ok(())
}
