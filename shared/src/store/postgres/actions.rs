//! Paused actions and each action's backlog, in Postgres.

use std::collections::HashMap;

use anyhow::Context;
use deadpool_postgres::{GenericClient, Pool};
use tokio_postgres::Row;

use super::{outbox::enqueue_again, rows::get};
use crate::{
    channels,
    ids::UnitId,
    messages::UnitAttempt,
    status::UnitState,
    store::{Backlog, PausedAction, TakenBack},
};

const PAUSED_COLUMNS: &str =
    "id, action, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at";

fn paused(row: &Row) -> anyhow::Result<PausedAction> {
    Ok(PausedAction {
        id: get(row, "id")?,
        action: get(row, "action")?,
        created_at: get(row, "created_at")?,
    })
}

pub(super) async fn paused_actions(
    client: &impl GenericClient,
) -> anyhow::Result<Vec<PausedAction>> {
    let rows = client
        .query(
            &format!("SELECT {PAUSED_COLUMNS} FROM paused_actions ORDER BY action"),
            &[],
        )
        .await
        .context("reading paused actions")?;
    rows.iter().map(paused).collect()
}

/// Pauses `action`; pausing it again keeps the first record.
pub(super) async fn pause(
    client: &impl GenericClient,
    action: &str,
) -> anyhow::Result<PausedAction> {
    client
        .execute(
            &client.prepare_cached("INSERT INTO paused_actions (action) VALUES ($1) ON CONFLICT (action) DO NOTHING").await?,
            &[&action],
        )
        .await
        .context("pausing an action")?;
    let row = client
        .query_one(
            &format!("SELECT {PAUSED_COLUMNS} FROM paused_actions WHERE action = $1"),
            &[&action],
        )
        .await
        .context("reading a paused action")?;
    paused(&row)
}

/// Resumes `action`, waking the relays for its units; `None` when it was not paused.
pub(super) async fn resume(
    client: &impl GenericClient,
    action: &str,
) -> anyhow::Result<Option<PausedAction>> {
    let row = client
        .query_opt(
            &format!("DELETE FROM paused_actions WHERE action = $1 RETURNING {PAUSED_COLUMNS}"),
            &[&action],
        )
        .await
        .context("resuming an action")?;
    let Some(row) = row else { return Ok(None) };
    super::outbox::notify(client, channels::WORK).await?;
    paused(&row).map(Some)
}

/// Decides what becomes of units taken from a paused action's queue (`TakenBack::decide`) and
/// puts those back in the outbox. Nothing locks a pending unit here: a relay marking it queued
/// skips a unit locked at that moment, and one skipped so would be left pending without an
/// outbox row. A unit that moved on between the read and the update is `Moved`.
pub(super) async fn take_back(
    pool: &Pool,
    units: &[UnitAttempt],
) -> anyhow::Result<Vec<TakenBack>> {
    let mut client = pool.get().await.context("getting a Postgres connection")?;
    let tx = client.transaction().await?;
    let ids: Vec<UnitId> = units.iter().map(|u| u.unit_id).collect();
    let rows = tx
        .query(
            "SELECT u.id, u.state, u.attempts,
                    EXISTS (SELECT 1 FROM paused_actions p WHERE p.action = u.action) AS paused
             FROM work_units u WHERE u.id = ANY($1)",
            &[&ids],
        )
        .await
        .context("reading units taken back from a paused action's queue")?;
    let mut found = HashMap::with_capacity(rows.len());
    for row in &rows {
        let state: String = get(row, "state")?;
        let facts = (
            UnitState::parse(&state),
            get::<_, i32>(row, "attempts")?,
            get::<_, bool>(row, "paused")?,
        );
        found.insert(get::<_, UnitId>(row, "id")?, facts);
    }
    let mut decided: Vec<TakenBack> = units
        .iter()
        .map(|u| match found.get(&u.unit_id) {
            Some(&(state, attempts, paused)) => {
                TakenBack::decide(paused, state, attempts == u.attempt)
            }
            None => TakenBack::Moved,
        })
        .collect();
    let (ids, attempts): (Vec<UnitId>, Vec<i32>) = units
        .iter()
        .zip(&decided)
        .filter(|(_, d)| d.is_back())
        .map(|(u, _)| (u.unit_id, u.attempt))
        .unzip();
    let rows = tx
        .query(
            "UPDATE work_units u SET state = 'pending', updated_at = clock_timestamp()
             FROM unnest($1::int8[], $2::int4[]) AS t(id, attempt)
             WHERE u.id = t.id AND u.attempts = t.attempt AND u.state = 'queued'
             RETURNING u.id",
            &[&ids, &attempts],
        )
        .await
        .context("putting units of a paused action back")?;
    let back: Vec<UnitId> = rows
        .iter()
        .map(|r| get(r, 0))
        .collect::<anyhow::Result<_>>()?;
    for (unit, verdict) in units.iter().zip(decided.iter_mut()) {
        if verdict.is_back() && !back.contains(&unit.unit_id) {
            *verdict = TakenBack::Moved;
        }
    }
    enqueue_again(&tx, &back).await?;
    tx.commit().await.context("committing units taken back")?;
    Ok(decided)
}

/// Each action's incomplete units, those among `running` and the others, with the oldest
/// other one's wait: read through the incomplete jobs (their status index) and each one's
/// units by state.
pub(super) async fn backlogs(
    client: &impl GenericClient,
    running: &[UnitId],
) -> anyhow::Result<Vec<Backlog>> {
    let rows = client
        .query(
            "SELECT j.action,
                    count(*) FILTER (WHERE u.id = ANY($1)) AS running,
                    count(*) FILTER (WHERE NOT u.id = ANY($1)) AS waiting,
                    extract(epoch FROM now() - min(u.updated_at) FILTER (WHERE NOT u.id = ANY($1)))::float8
                        AS oldest
             FROM jobs j JOIN work_units u ON u.job_id = j.id
             WHERE j.status IN (1, 4, 5) AND u.state IN ('pending', 'queued')
             GROUP BY j.action ORDER BY j.action",
            &[&running],
        )
        .await
        .context("counting each action's waiting units")?;
    rows.iter()
        .map(|r| {
            Ok(Backlog {
                action: get(r, "action")?,
                running: get(r, "running")?,
                waiting: get(r, "waiting")?,
                oldest_waiting_seconds: get::<_, Option<f64>>(r, "oldest")?.map(|s| s.max(0.0)),
            })
        })
        .collect()
}
