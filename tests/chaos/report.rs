//! What a chaos run prints: the faults dealt and how long the system took to finish a fresh job
//! after each, the jobs posted, and how they ended.

use std::{collections::BTreeMap, time::Duration};

use crate::{faults::Fault, world::Outcome};

#[derive(Default)]
pub struct Report {
    recoveries: BTreeMap<Fault, Vec<Duration>>,
    /// Jobs accepted by kind, and posts refused while the api or its database was down.
    pub posted: BTreeMap<String, u64>,
}

impl Report {
    pub fn fault(&mut self, fault: Fault, recovery: Duration) {
        self.recoveries.entry(fault).or_default().push(recovery);
    }

    pub fn dealt_every_kind(&self) -> bool {
        Fault::ALL.iter().all(|f| self.recoveries.contains_key(f))
    }

    pub fn print(&self, outcome: &Outcome, queues_left: &[String], exited: &[String]) {
        println!("chaos: faults dealt, and seconds until a fresh job finished after each:");
        for (fault, times) in &self.recoveries {
            let secs: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
            let max = secs.iter().copied().fold(0.0, f64::max);
            let mean = secs.iter().sum::<f64>() / secs.len().max(1) as f64;
            println!(
                "chaos:   {fault:?}: {} times, recovery mean {mean:.2} s, max {max:.2} s",
                secs.len()
            );
        }
        println!("chaos: posts: {:?}", self.posted);
        println!(
            "chaos: jobs checked {}, right {}, wrong {}, never ended {}; incomplete in the store {}; units {} (most attempts {})",
            outcome.checked,
            outcome.right,
            outcome.wrong.len(),
            outcome.unfinished.len(),
            outcome.incomplete_in_store,
            outcome.units,
            outcome.most_attempts,
        );
        println!("chaos: queues with messages left: {queues_left:?}; processes that exited by themselves: {exited:?}");
    }
}
