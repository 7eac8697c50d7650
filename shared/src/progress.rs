//! Moving a job through the state machine, over any store: the store holds the job's lock and
//! does the writes (`JobMoves`); which moves to make is decided here, once for every backend.

use async_trait::async_trait;
use serde_json::Value;

use crate::{
    state_machine::{next_status, output_stage, Tally},
    status::{JobStatus, Stage},
};

/// The writes that move one job, made while the store holds that job's lock.
#[async_trait]
pub trait JobMoves: Send {
    /// How many of the job's units are in each stage and state.
    async fn tally(&mut self) -> anyhow::Result<Tally>;
    async fn set_status(&mut self, status: JobStatus) -> anyhow::Result<()>;
    /// The outputs (or errors) of a stage's first `limit` units, in unit order, and how many
    /// units the stage has.
    async fn stage_outputs(&mut self, stage: Stage, limit: i64) -> anyhow::Result<Outputs>;
    /// Adds the job's one merge unit (pending). Its input, every process output, is read
    /// when it is sent, not copied into it.
    async fn add_merge_unit(&mut self) -> anyhow::Result<()>;
    /// Ends the job: status, the outputs listed (of `stage`), time taken, callback due,
    /// waiting units cancelled.
    async fn complete(
        &mut self,
        status: JobStatus,
        outputs: Outputs,
        stage: Stage,
    ) -> anyhow::Result<()>;
}

/// The outputs a job lists: CloudCrowd's array for what fits (`max_listed_outputs`), and how
/// many there are in all (the rest are paged from the units).
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    pub listed: Value,
    pub total: i64,
}

/// The process units a split's output makes: CloudCrowd flattens it, so nested arrays become
/// one list of inputs.
pub fn split_inputs(output: Value) -> Vec<Value> {
    match output {
        Value::Array(items) => items.into_iter().flat_map(split_inputs).collect(),
        other => vec![other],
    }
}

/// Moves a job in `status` through as many states as its units allow; a job that ends lists
/// at most `max_listed` outputs.
pub async fn advance(
    moves: &mut dyn JobMoves,
    mut status: JobStatus,
    has_merge: bool,
    max_listed: i64,
) -> anyhow::Result<()> {
    let tally = moves.tally().await?;
    while let Some(next) = next_status(status, has_merge, &tally) {
        match next {
            JobStatus::Processing | JobStatus::Splitting => moves.set_status(next).await?,
            JobStatus::Merging => {
                moves.add_merge_unit().await?;
                moves.set_status(next).await?;
                // The merge unit is new and pending: nothing more until it completes.
                return Ok(());
            }
            JobStatus::Succeeded | JobStatus::Failed => {
                let stage = output_stage(status);
                let outputs = moves.stage_outputs(stage, max_listed).await?;
                return moves.complete(next, outputs, stage).await;
            }
        }
        status = next;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::UnitState;

    /// Records the moves instead of making them.
    #[derive(Default)]
    struct Recorder {
        tally: Tally,
        moves: Vec<String>,
    }

    #[async_trait]
    impl JobMoves for Recorder {
        async fn tally(&mut self) -> anyhow::Result<Tally> {
            Ok(self.tally.clone())
        }
        async fn set_status(&mut self, status: JobStatus) -> anyhow::Result<()> {
            self.moves.push(format!("status {}", status.as_str()));
            Ok(())
        }
        async fn stage_outputs(&mut self, stage: Stage, _limit: i64) -> anyhow::Result<Outputs> {
            Ok(Outputs {
                listed: Value::from(stage.as_str()),
                total: 1,
            })
        }
        async fn add_merge_unit(&mut self) -> anyhow::Result<()> {
            self.moves.push("merge unit".into());
            Ok(())
        }
        async fn complete(
            &mut self,
            status: JobStatus,
            outputs: Outputs,
            stage: Stage,
        ) -> anyhow::Result<()> {
            self.moves.push(format!(
                "complete {} with {} of {}",
                status.as_str(),
                outputs.listed,
                stage.as_str()
            ));
            Ok(())
        }
    }

    #[test]
    fn split_output_is_flattened() {
        use serde_json::json;
        assert_eq!(
            split_inputs(json!([[1, 2], [3, [4]], 5])),
            vec![json!(1), json!(2), json!(3), json!(4), json!(5)]
        );
        assert_eq!(split_inputs(json!("one")), vec![json!("one")]);
    }

    #[tokio::test]
    async fn a_finished_split_with_no_process_units_goes_straight_to_merging() {
        let mut r = Recorder::default();
        r.tally.add(Stage::Split, UnitState::Succeeded, 1);
        advance(&mut r, JobStatus::Splitting, true, 10)
            .await
            .expect("advance");
        assert_eq!(
            r.moves,
            ["status processing", "merge unit", "status merging"]
        );
    }

    #[tokio::test]
    async fn a_failed_process_unit_completes_the_job_with_the_process_outputs() {
        let mut r = Recorder::default();
        r.tally.add(Stage::Process, UnitState::Failed, 1);
        advance(&mut r, JobStatus::Processing, true, 10)
            .await
            .expect("advance");
        assert_eq!(r.moves, ["complete failed with \"process\" of process"]);
    }

    #[tokio::test]
    async fn nothing_moves_while_units_run() {
        let mut r = Recorder::default();
        r.tally.add(Stage::Process, UnitState::Queued, 1);
        advance(&mut r, JobStatus::Processing, true, 10)
            .await
            .expect("advance");
        assert!(r.moves.is_empty());
    }
}
