//! Paused actions and each action's backlog, in SQLite: as `postgres/actions.rs`.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::{
    ids::UnitId,
    messages::UnitAttempt,
    status::UnitState,
    store::{Backlog, PausedAction, TakenBack},
};

const PAUSED_COLUMNS: &str =
    "id, action, strftime('%Y-%m-%dT%H:%M:%SZ', created_at, 'unixepoch') AS created_at";

fn paused(r: &Row) -> rusqlite::Result<PausedAction> {
    Ok(PausedAction {
        id: r.get(0)?,
        action: r.get(1)?,
        created_at: r.get(2)?,
    })
}

pub(super) fn paused_actions(conn: &mut Connection) -> anyhow::Result<Vec<PausedAction>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {PAUSED_COLUMNS} FROM paused_actions ORDER BY action"
    ))?;
    let rows = statement.query_map([], paused)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Pauses `action`; pausing it again keeps the first record.
pub(super) fn pause(conn: &mut Connection, action: &str) -> anyhow::Result<PausedAction> {
    conn.execute(
        "INSERT INTO paused_actions (action) VALUES (?1) ON CONFLICT (action) DO NOTHING",
        params![action],
    )?;
    Ok(conn.query_row(
        &format!("SELECT {PAUSED_COLUMNS} FROM paused_actions WHERE action = ?1"),
        params![action],
        paused,
    )?)
}

pub(super) fn resume(conn: &mut Connection, action: &str) -> anyhow::Result<Option<PausedAction>> {
    Ok(conn
        .query_row(
            &format!("DELETE FROM paused_actions WHERE action = ?1 RETURNING {PAUSED_COLUMNS}"),
            params![action],
            paused,
        )
        .optional()?)
}

/// Decides what becomes of units taken from a paused action's queue (`TakenBack::decide`) and
/// makes those back pending again (the outbox here), in one write transaction.
pub(super) fn take_back(
    conn: &mut Connection,
    units: &[UnitAttempt],
) -> anyhow::Result<Vec<TakenBack>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut decided = Vec::with_capacity(units.len());
    {
        let mut read = tx.prepare_cached(
            "SELECT u.state, u.attempts,
                    EXISTS (SELECT 1 FROM paused_actions p WHERE p.action = u.action)
             FROM work_units u WHERE u.id = ?1",
        )?;
        let mut update = tx.prepare_cached(
            "UPDATE work_units SET state = 'pending', updated_at = unixepoch('subsec') WHERE id = ?1",
        )?;
        for unit in units {
            let found = read
                .query_row(params![unit.unit_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i32>(1)?,
                        r.get::<_, bool>(2)?,
                    ))
                })
                .optional()?;
            let verdict = match found {
                Some((state, attempts, paused)) => {
                    TakenBack::decide(paused, UnitState::parse(&state), attempts == unit.attempt)
                }
                None => TakenBack::Moved,
            };
            if verdict.is_back() {
                update.execute(params![unit.unit_id])?;
            }
            decided.push(verdict);
        }
    }
    tx.commit()?;
    Ok(decided)
}

/// Each action's incomplete units, those among `running` and the others, with the oldest
/// other one's wait.
pub(super) fn backlogs(conn: &mut Connection, running: &[UnitId]) -> anyhow::Result<Vec<Backlog>> {
    let running = serde_json::to_string(running)?;
    let mut statement = conn.prepare_cached(
        "WITH r(id) AS (SELECT value FROM json_each(?1))
         SELECT j.action,
                count(*) FILTER (WHERE u.id IN r),
                count(*) FILTER (WHERE u.id NOT IN r),
                unixepoch('subsec') - min(u.updated_at) FILTER (WHERE u.id NOT IN r)
         FROM jobs j JOIN work_units u ON u.job_id = j.id
         WHERE j.status IN (1, 4, 5) AND u.state IN ('pending', 'queued')
         GROUP BY j.action ORDER BY j.action",
    )?;
    let rows = statement.query_map(params![running], |r| {
        Ok(Backlog {
            action: r.get(0)?,
            running: r.get(1)?,
            waiting: r.get(2)?,
            oldest_waiting_seconds: r.get::<_, Option<f64>>(3)?.map(|s| s.max(0.0)),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
