//! The units this worker runs now. They belong to the worker, not to its link to the queue: when
//! the link drops, they keep running and report on the next link, and a redelivery of a unit
//! still running here is taken over instead of run a second time.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc, Mutex, MutexGuard,
    },
};

use crowd_shared::{
    ids::{JobId, UnitId},
    messages::WorkMessage,
    queue::Acker,
};
use tokio::{sync::watch, task::AbortHandle};

/// A unit stopped because its job was deleted.
pub struct Stopped {
    pub unit_id: UnitId,
    pub action: String,
    pub ackers: Vec<Box<dyn Acker>>,
}

#[derive(Default)]
pub struct Running {
    units: Mutex<HashMap<UnitId, Run>>,
    /// How many units run, for whoever waits for them to finish.
    count: watch::Sender<usize>,
}

struct Run {
    attempt: i32,
    job_id: JobId,
    action: String,
    /// Every delivery of this attempt held here (a redelivery after the link dropped, a copy
    /// the sweeper sent): all are settled when it ends.
    ackers: Vec<Box<dyn Acker>>,
    abort: Option<AbortHandle>,
    /// What its action last reported (`Progress::NONE` before it says anything).
    progress: Progress,
}

/// A unit's progress in percent, as its action reports it; read by heartbeats.
#[derive(Clone, Default)]
pub struct Progress(Arc<AtomicU8>);

impl Progress {
    /// Nothing reported yet.
    const NONE: u8 = u8::MAX;

    pub fn none() -> Self {
        Progress(Arc::new(AtomicU8::new(Self::NONE)))
    }

    pub fn report(&self, percent: u8) {
        self.0.store(percent.min(100), Ordering::Relaxed);
    }

    pub fn get(&self) -> Option<u8> {
        let percent = self.0.load(Ordering::Relaxed);
        (percent != Self::NONE).then_some(percent)
    }
}

impl Running {
    fn units(&self) -> MutexGuard<'_, HashMap<UnitId, Run>> {
        // A panic elsewhere does not make the map wrong: carry on with it.
        self.units
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The ids of the units running now, in order.
    pub fn ids(&self) -> Vec<UnitId> {
        let mut ids: Vec<UnitId> = self.units().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    pub fn len(&self) -> usize {
        self.units().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records that the attempt `msg` names starts here, held by `acker`. If that attempt
    /// already runs here (its delivery came back after the link dropped), this delivery joins
    /// it and `false` is returned: the unit must not start twice.
    pub fn start(&self, msg: &WorkMessage, acker: Box<dyn Acker>) -> bool {
        let mut units = self.units();
        if let Some(run) = units.get_mut(&msg.unit_id) {
            if run.attempt == msg.attempt {
                run.ackers.push(acker);
                return false;
            }
        }
        units.insert(
            msg.unit_id,
            Run {
                attempt: msg.attempt,
                job_id: msg.job_id,
                action: msg.action.clone(),
                ackers: vec![acker],
                abort: None,
                progress: Progress::none(),
            },
        );
        self.count.send_replace(units.len());
        crowd_shared::metrics::units_running(units.len());
        true
    }

    /// Where `unit_id`'s action reports its progress (a handle that counts for nothing if it
    /// no longer runs here).
    pub fn progress_of(&self, unit_id: UnitId) -> Progress {
        self.units()
            .get(&unit_id)
            .map_or_else(Progress::none, |run| run.progress.clone())
    }

    /// The progress the units running here reported, by unit.
    pub fn progress(&self) -> std::collections::BTreeMap<UnitId, u8> {
        self.units()
            .iter()
            .filter_map(|(id, run)| Some((*id, run.progress.get()?)))
            .collect()
    }

    /// Whether `unit_id`'s `attempt` runs here now.
    pub fn runs(&self, unit_id: UnitId, attempt: i32) -> bool {
        self.units()
            .get(&unit_id)
            .is_some_and(|run| run.attempt == attempt)
    }

    /// Lets `abort_all` stop the attempt's task.
    pub fn set_abort(&self, unit_id: UnitId, attempt: i32, abort: AbortHandle) {
        match self.units().get_mut(&unit_id) {
            Some(run) if run.attempt == attempt => run.abort = Some(abort),
            _ => {}
        }
    }

    /// The attempt ended; returns the deliveries to settle.
    pub fn finish(&self, unit_id: UnitId, attempt: i32) -> Vec<Box<dyn Acker>> {
        let mut units = self.units();
        if units.get(&unit_id).is_none_or(|run| run.attempt != attempt) {
            return Vec::new(); // A newer attempt of the unit runs here now.
        }
        let run = units.remove(&unit_id);
        self.count.send_replace(units.len());
        crowd_shared::metrics::units_running(units.len());
        run.map(|run| run.ackers).unwrap_or_default()
    }

    /// Stops the units of a deleted job; returns them, for their deliveries to be settled and
    /// their files removed.
    pub fn stop_job(&self, job_id: JobId) -> Vec<Stopped> {
        let mut units = self.units();
        let ids: Vec<UnitId> = units
            .iter()
            .filter(|(_, run)| run.job_id == job_id)
            .map(|(id, _)| *id)
            .collect();
        let stopped = ids
            .into_iter()
            .filter_map(|unit_id| {
                let run = units.remove(&unit_id)?;
                if let Some(abort) = run.abort {
                    abort.abort();
                }
                Some(Stopped {
                    unit_id,
                    action: run.action,
                    ackers: run.ackers,
                })
            })
            .collect();
        self.count.send_replace(units.len());
        crowd_shared::metrics::units_running(units.len());
        stopped
    }

    /// Waits until no unit runs.
    pub async fn drained(&self) {
        let mut count = self.count.subscribe();
        // `wait_for` fails only when the sender is gone, and `self` holds it.
        let _ = count.wait_for(|n| *n == 0).await;
    }

    /// Stops every unit: their deliveries are dropped unsettled, so the queue hands them out
    /// again when the link closes.
    pub fn abort_all(&self) -> usize {
        let mut units = self.units();
        let n = units.len();
        for (_, run) in units.drain() {
            if let Some(abort) = run.abort {
                abort.abort();
            }
        }
        self.count.send_replace(0);
        crowd_shared::metrics::units_running(0);
        n
    }
}
