//! Nodes (workers, as their heartbeats describe them) and the sweep for lost units, in
//! Postgres.

use std::time::Duration;

use deadpool_postgres::Pool;

use super::rows::get;
use crate::ids::UnitId;
use crate::messages::Heartbeat;

pub(super) async fn record_heartbeat(pool: &Pool, beat: &Heartbeat) -> anyhow::Result<()> {
    let client = pool.get().await?;
    // Nodes that died without saying goodbye: /status already hides them; this forgets them.
    client
        .execute(
            &client
                .prepare_cached("DELETE FROM nodes WHERE last_seen < now() - interval '1 hour'")
                .await?,
            &[],
        )
        .await?;
    if beat.leaving {
        client
            .execute(
                &client
                    .prepare_cached("DELETE FROM nodes WHERE name = $1")
                    .await?,
                &[&beat.node],
            )
            .await?;
        return Ok(());
    }
    client
        .execute(
            &client.prepare_cached("INSERT INTO nodes (name, tag, max_workers, running, actions, throttled, progress, last_seen)
             VALUES ($1, $2, $3, $4, $5, $6, $7, now())
             ON CONFLICT (name) DO UPDATE SET tag = $2, max_workers = $3, running = $4, actions = $5,
                 throttled = $6, progress = $7, last_seen = now()").await?,
            &[
                &beat.node,
                &beat.tag,
                &i32::from(beat.max_workers),
                &serde_json::to_value(&beat.running)?,
                &serde_json::to_value(&beat.stages)?,
                &beat.throttled,
                &serde_json::to_value(&beat.progress)?,
            ],
        )
        .await?;
    Ok(())
}

pub(super) async fn actions_with_old_queued_units(
    pool: &Pool,
    older_than: Duration,
) -> anyhow::Result<Vec<String>> {
    let rows = pool
        .get()
        .await?
        .query(
            "SELECT DISTINCT action FROM work_units
             WHERE state = 'queued' AND updated_at < now() - make_interval(secs => $1)",
            &[&older_than.as_secs_f64()],
        )
        .await?;
    rows.iter().map(|r| get(r, 0)).collect()
}

pub(super) async fn requeue_lost(
    pool: &Pool,
    action: &str,
    older_than: Duration,
    node_ttl: Duration,
) -> anyhow::Result<u64> {
    let mut client = pool.get().await?;
    // One transaction: a unit made pending is in the outbox too, or it would never be sent.
    let tx = client.transaction().await?;
    let requeued: Vec<UnitId> = tx
        .query(
            &tx.prepare_cached(
                "UPDATE work_units u SET state = 'pending', updated_at = clock_timestamp()
             WHERE u.action = $1 AND u.state = 'queued'
               AND u.updated_at < now() - make_interval(secs => $2)
               AND NOT EXISTS (SELECT 1 FROM nodes n
                               WHERE n.last_seen > now() - make_interval(secs => $3)
                                 AND n.running @> to_jsonb(u.id))
             RETURNING u.id",
            )
            .await?,
            &[&action, &older_than.as_secs_f64(), &node_ttl.as_secs_f64()],
        )
        .await?
        .iter()
        .map(|row| get(row, 0))
        .collect::<anyhow::Result<_>>()?;
    super::outbox::enqueue_again(&tx, &requeued).await?;
    tx.commit().await?;
    Ok(requeued.len() as u64)
}
