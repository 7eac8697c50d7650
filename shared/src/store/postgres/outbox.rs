//! The outbox in Postgres: claiming pending units for a relay and marking them queued.

use std::collections::BTreeSet;

use anyhow::Context;
use deadpool_postgres::{GenericClient, Pool};
use serde_json::Value;
use tokio_postgres::Row;

use super::rows::get;
use crate::{
    channels,
    messages::{WorkMessage, INLINE_OPTIONS_BYTES},
    status::Stage,
    store::{PendingUnit, Publish, Published, Relayed, Unpublishable},
};

/// Relays up to `limit` pending units; returns what it did and the jobs of units it failed for
/// good (whose stage may have ended).
pub(super) async fn relay_pending(
    pool: &Pool,
    limit: i64,
    max_attempts: i32,
    publish: &mut dyn Publish,
) -> anyhow::Result<(Relayed, BTreeSet<i64>)> {
    let mut client = pool.get().await.context("getting a Postgres connection")?;
    let tx = client.transaction().await?;
    // SKIP LOCKED: rows another dispatcher is relaying are left to it, so no unit is published
    // twice by two relays; the locks are held until the units are marked queued.
    let rows = tx
        .query(
            // Big options are left out unread (they travel once per job, by reference).
            "SELECT u.id, u.job_id, u.action, u.stage, u.input, u.attempts,
                    CASE WHEN j.options_bytes <= $2 THEN j.options END AS options
             FROM work_units u JOIN jobs j ON j.id = u.job_id
             WHERE u.state = 'pending'
             ORDER BY u.updated_at, u.id
             LIMIT $1
             FOR UPDATE OF u SKIP LOCKED",
            &[&limit, &(INLINE_OPTIONS_BYTES as i32)],
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
    // A unit whose row cannot be read fails alone, with the reason; the others go on.
    let mut units = Vec::with_capacity(rows.len());
    let mut failed = Vec::new();
    for row in &rows {
        match work_message(row, max_attempts) {
            Ok(msg) => units.push(msg),
            Err(e) => failed.push(Unpublishable {
                unit_id: get(row, "id")?,
                job_id: get(row, "job_id")?,
                error: format!("the unit could not be read from the database: {e:#}"),
            }),
        }
    }
    let published = if units.is_empty() {
        Published::default()
    } else {
        publish.publish(units).await?
    };
    failed.extend(published.failed);
    tx.execute(
        "UPDATE work_units SET state = 'queued' WHERE id = ANY($1) AND state = 'pending'",
        &[&published.confirmed],
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
    };
    Ok(unit.into_message(max_attempts))
}

/// Fails, for good, pending units that can never be published.
async fn fail_pending(client: &impl GenericClient, units: &[Unpublishable]) -> anyhow::Result<()> {
    if units.is_empty() {
        return Ok(());
    }
    for unit in units {
        tracing::warn!(job.id = unit.job_id, work_unit.id = unit.unit_id, error = %unit.error,
            "a unit cannot be published; it fails");
    }
    let ids: Vec<i64> = units.iter().map(|u| u.unit_id).collect();
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

/// Adds pending units (the outbox) and wakes the relays.
pub(super) async fn insert_units(
    client: &impl GenericClient,
    job_id: i64,
    action: &str,
    stage: Stage,
    inputs: &[Value],
) -> anyhow::Result<()> {
    if inputs.is_empty() {
        return Ok(());
    }
    client
        .execute(
            "INSERT INTO work_units (job_id, action, stage, input)
             SELECT $1, $2, $3, input FROM unnest($4::jsonb[]) WITH ORDINALITY AS t(input, n) ORDER BY n
             ON CONFLICT DO NOTHING",
            &[&job_id, &action, &stage.code(), &inputs],
        )
        .await
        .context("inserting work units")?;
    notify(client, channels::WORK).await
}

pub(super) async fn notify(client: &impl GenericClient, channel: &str) -> anyhow::Result<()> {
    client
        .execute("SELECT pg_notify($1, '')", &[&channel])
        .await?;
    Ok(())
}
