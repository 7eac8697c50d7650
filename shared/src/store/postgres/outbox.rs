//! The outbox in Postgres: claiming pending units for a relay and marking them queued.

use std::collections::{BTreeSet, HashMap};

use anyhow::Context;
use deadpool_postgres::{GenericClient, Pool};
use serde_json::Value;
use tokio_postgres::{types::Type, Row};

use super::rows::get;
use crate::{
    channels,
    ids::{JobId, UnitId},
    lane::Lane,
    messages::{WorkMessage, INLINE_OPTIONS_BYTES},
    queue::{Publish, Published, Unpublishable},
    status::Stage,
    store::{PendingUnit, Relayed},
};

/// Relays up to `limit` pending units; returns what it did and the jobs of units it failed for
/// good (whose stage may have ended).
pub(super) async fn relay_pending(
    pool: &Pool,
    limit: i64,
    max_attempts: i32,
    publish: &mut dyn Publish,
) -> anyhow::Result<(Relayed, BTreeSet<JobId>)> {
    let mut client = pool.get().await.context("getting a Postgres connection")?;
    let tx = client.transaction().await?;
    // A paused action's units stay in the outbox until it is resumed.
    // SKIP LOCKED: outbox rows another dispatcher is relaying are left to it, so no unit is
    // published twice by two relays. The units themselves are only key-share locked: a
    // completion recording one never waits for a relay's broker round trip, while a job being
    // deleted (which cascades through units to the outbox) is skipped now, or waits for this
    // relay instead of deadlocking with it.
    // Typed statements over a batch: each planned for its parameters, in one round trip.
    let rows = tx
        .query_typed(
            // Big options are left out unread (they travel once per job, by reference).
            "SELECT o.seq, u.id, u.job_id, u.action, u.stage, u.input, u.attempts, u.lane,
                    u.state = 'pending' AS waiting,
                    CASE WHEN j.options_bytes <= $2 THEN j.options END AS options
             FROM outbox o JOIN work_units u ON u.id = o.unit_id JOIN jobs j ON j.id = u.job_id
             WHERE NOT EXISTS (SELECT 1 FROM paused_actions p WHERE p.action = u.action)
             ORDER BY o.lane, o.seq
             LIMIT $1
             FOR UPDATE OF o SKIP LOCKED
             FOR KEY SHARE OF u SKIP LOCKED",
            &[
                (&limit, Type::INT8),
                (&(INLINE_OPTIONS_BYTES as i32), Type::INT4),
            ],
        )
        .await
        .context("claiming pending units")?;
    if rows.is_empty() {
        let nothing = Relayed {
            claimed: 0,
            refused: None,
        };
        return Ok((nothing, BTreeSet::new()));
    }
    // Rows whose unit moved on without being published (its job ended, or a lost unit's
    // first run answered after all), and a second row of a unit, leave the outbox unsent.
    let mut done_seqs = Vec::new();
    // A unit whose row cannot be read fails alone, with the reason; the others go on.
    let mut units = Vec::with_capacity(rows.len());
    let mut seq_of: HashMap<UnitId, i64> = HashMap::with_capacity(rows.len());
    let mut failed = Vec::new();
    for row in &rows {
        let seq: i64 = get(row, "seq")?;
        let unit_id: UnitId = get(row, "id")?;
        if !get::<_, bool>(row, "waiting")? || seq_of.contains_key(&unit_id) {
            done_seqs.push(seq);
            continue;
        }
        seq_of.insert(unit_id, seq);
        match work_message(row, max_attempts) {
            Ok(msg) => units.push(msg),
            Err(e) => failed.push(Unpublishable {
                unit_id,
                job_id: get(row, "job_id")?,
                error: format!("the unit could not be read from the database: {e:#}"),
            }),
        }
    }
    let attempt_of: HashMap<UnitId, i32> = units.iter().map(|u| (u.unit_id, u.attempt)).collect();
    let published = if units.is_empty() {
        Published::default()
    } else {
        publish.publish(units).await?
    };
    failed.extend(published.failed);
    // What was neither confirmed nor failed (the broker refused it for now) stays in the
    // outbox for the next round.
    done_seqs.extend(published.confirmed.iter().filter_map(|id| seq_of.get(id)));
    done_seqs.extend(failed.iter().filter_map(|f| seq_of.get(&f.unit_id)));
    tx.execute_typed(
        "DELETE FROM outbox WHERE seq = ANY($1)",
        &[(&done_seqs, Type::INT8_ARRAY)],
    )
    .await
    .context("taking units out of the outbox")?;
    // Queued only if still the attempt that was sent: a unit retried meanwhile (its worker
    // answered before this commit) is pending again with its own outbox row.
    let attempts: Vec<i32> = published
        .confirmed
        .iter()
        .map(|id| attempt_of.get(id).copied().unwrap_or(-1))
        .collect();
    // SKIP LOCKED: a unit locked now is being recorded (its worker answered already) or its
    // job is ending; either way `queued` would be wrong, and waiting for it could deadlock with
    // a batch of completions locking the same units in another order.
    tx.execute_typed(
        "WITH locked AS (
             SELECT id, attempts FROM work_units WHERE id = ANY($1) AND state = 'pending'
             FOR NO KEY UPDATE SKIP LOCKED)
         UPDATE work_units u SET state = 'queued'
         FROM locked l JOIN unnest($1::int8[], $2::int4[]) AS p(id, attempt) ON p.id = l.id
         WHERE u.id = l.id AND l.attempts = p.attempt",
        &[
            (&published.confirmed, Type::INT8_ARRAY),
            (&attempts, Type::INT4_ARRAY),
        ],
    )
    .await
    .context("marking units queued")?;
    fail_pending(&tx, &failed).await?;
    tx.commit().await.context("committing the relay")?;
    let relayed = Relayed {
        claimed: rows.len(),
        refused: published.refused,
    };
    Ok((relayed, failed.iter().map(|f| f.job_id).collect()))
}

fn work_message(row: &Row, max_attempts: i32) -> anyhow::Result<WorkMessage> {
    let stage_code: i16 = get(row, "stage")?;
    let unit = PendingUnit {
        unit_id: get(row, "id")?,
        job_id: get(row, "job_id")?,
        action: get(row, "action")?,
        stage: Stage::from_code(stage_code).context("unit with an unknown stage")?,
        input: get(row, "input")?,
        options: get(row, "options")?,
        attempt: get(row, "attempts")?,
        lane: Lane::from_code(get(row, "lane")?),
    };
    Ok(unit.into_message(max_attempts))
}

/// Fails, for good, pending units that can never be published.
async fn fail_pending(client: &impl GenericClient, units: &[Unpublishable]) -> anyhow::Result<()> {
    if units.is_empty() {
        return Ok(());
    }
    for unit in units {
        tracing::warn!(job.id = unit.job_id.0, work_unit.id = unit.unit_id.0, error = %unit.error,
            "a unit cannot be published; it fails");
    }
    let ids: Vec<UnitId> = units.iter().map(|u| u.unit_id).collect();
    let errors: Vec<&str> = units.iter().map(|u| u.error.as_str()).collect();
    client
        .execute(
            "UPDATE work_units u SET state = 'failed', attempts = u.attempts + 1,
                 output = to_jsonb(f.error), finished_at = now()
             FROM unnest($1::int8[], $2::text[]) AS f(id, error)
             WHERE u.id = f.id AND u.state = 'pending'",
            &[&ids, &errors],
        )
        .await
        .context("failing units that cannot be published")?;
    Ok(())
}

/// Adds pending units, in the outbox in their lane, counted on their job
/// (schema/postgres/V8__unit_counts.sql), and wakes the relays.
pub(super) async fn insert_units(
    client: &impl GenericClient,
    job_id: JobId,
    action: &str,
    stage: Stage,
    inputs: &[Value],
) -> anyhow::Result<()> {
    if inputs.is_empty() {
        return Ok(());
    }
    let lane = Lane::of(stage, inputs.len()).code();
    // A merge unit is not one of the units a job's progress counts.
    let counted = i64::from(stage != Stage::Merge);
    if let [input] = inputs {
        // One unit (a one-input job, a merge): a statement prepared once, where a batch's must
        // be planned for its size each time.
        client
            .execute(
                &client
                    .prepare_cached(
                        "WITH added AS (
                             INSERT INTO work_units (job_id, action, stage, input, lane)
                             VALUES ($1, $2, $3, $4, $5)
                             ON CONFLICT DO NOTHING
                             RETURNING id),
                         queued AS (INSERT INTO outbox (unit_id, lane) SELECT id, $5 FROM added)
                         UPDATE jobs SET units_total = units_total + $6 * (SELECT count(*) FROM added),
                                         units_incomplete = units_incomplete + (SELECT count(*) FROM added)
                         WHERE id = $1",
                    )
                    .await?,
                &[&job_id, &action, &stage.code(), input, &lane, &counted],
            )
            .await
            .context("inserting a work unit")?;
        return notify(client, channels::WORK).await;
    }
    client
        .execute(
            "WITH added AS (
                 INSERT INTO work_units (job_id, action, stage, input, lane)
                 SELECT $1, $2, $3, input, $5 FROM unnest($4::jsonb[]) WITH ORDINALITY AS t(input, n) ORDER BY n
                 ON CONFLICT DO NOTHING
                 RETURNING id),
             queued AS (INSERT INTO outbox (unit_id, lane) SELECT id, $5 FROM added ORDER BY id)
             UPDATE jobs SET units_total = units_total + $6 * (SELECT count(*) FROM added),
                             units_incomplete = units_incomplete + (SELECT count(*) FROM added)
             WHERE id = $1",
            &[&job_id, &action, &stage.code(), &inputs, &lane, &counted],
        )
        .await
        .context("inserting work units")?;
    notify(client, channels::WORK).await
}

/// Puts units back in the outbox, behind everything already waiting in their lane.
pub(super) async fn enqueue_again(
    client: &impl GenericClient,
    unit_ids: &[UnitId],
) -> anyhow::Result<()> {
    if unit_ids.is_empty() {
        return Ok(());
    }
    client
        .execute(
            "INSERT INTO outbox (unit_id, lane) SELECT id, lane FROM work_units WHERE id = ANY($1)",
            &[&unit_ids],
        )
        .await
        .context("putting units back in the outbox")?;
    notify(client, channels::WORK).await
}

pub(super) async fn notify(client: &impl GenericClient, channel: &str) -> anyhow::Result<()> {
    client
        .execute(
            &client.prepare_cached("SELECT pg_notify($1, '')").await?,
            &[&channel],
        )
        .await?;
    Ok(())
}
