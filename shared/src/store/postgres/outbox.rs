//! The outbox in Postgres: claiming pending units for a relay and marking them queued.

use anyhow::Context;
use deadpool_postgres::{GenericClient, Pool};
use serde_json::Value;

use crate::{
    channels,
    messages::WorkMessage,
    status::Stage,
    store::{Publish, Relayed},
};

pub(super) async fn relay_pending(
    pool: &Pool,
    limit: i64,
    max_attempts: i32,
    publish: &mut dyn Publish,
) -> anyhow::Result<Relayed> {
    let mut client = pool.get().await.context("getting a Postgres connection")?;
    let tx = client.transaction().await?;
    // SKIP LOCKED: rows another dispatcher is relaying are left to it, so no unit is published
    // twice by two relays; the locks are held until the units are marked queued.
    let rows = tx
        .query(
            "SELECT u.id, u.job_id, u.action, u.stage, u.input, u.attempts, j.options
             FROM work_units u JOIN jobs j ON j.id = u.job_id
             WHERE u.state = 'pending'
             ORDER BY u.updated_at, u.id
             LIMIT $1
             FOR UPDATE OF u SKIP LOCKED",
            &[&limit],
        )
        .await
        .context("claiming pending units")?;
    if rows.is_empty() {
        return Ok(Relayed {
            claimed: 0,
            refused: None,
        });
    }
    let units = rows
        .iter()
        .map(|row| {
            let stage_code: i16 = row.get("stage");
            Ok(WorkMessage {
                unit_id: row.get("id"),
                job_id: row.get("job_id"),
                action: row.get("action"),
                stage: Stage::from_code(stage_code).context("unit with an unknown stage")?,
                input: row.get("input"),
                options: row.get("options"),
                attempt: row.get("attempts"),
                max_attempts,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let published = publish.publish(units).await?;
    tx.execute(
        "UPDATE work_units SET state = 'queued' WHERE id = ANY($1) AND state = 'pending'",
        &[&published.confirmed],
    )
    .await
    .context("marking units queued")?;
    tx.commit().await.context("committing the relay")?;
    Ok(Relayed {
        claimed: rows.len(),
        refused: published.refused,
    })
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
