//! A delivery of several units (see `packing`) handed on as one delivery per unit, so a
//! worker treats each unit as it treats a message of its own. The message is settled once
//! every unit in it is: acked, or handed back if any unit was.

use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc,
};

use async_trait::async_trait;
use futures_util::StreamExt;

use super::{Acker, Deliveries, Delivery};
use crate::messages::{WorkMessage, WorkMessages};

/// `deliveries` as one delivery per unit; a broken link stays one error.
pub fn per_unit_stream(deliveries: Deliveries<WorkMessages>) -> Deliveries<WorkMessage> {
    deliveries
        .flat_map(|delivery| {
            let parts = match delivery {
                Ok(delivery) => per_unit(delivery).into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            futures_util::stream::iter(parts)
        })
        .boxed()
}

/// One delivery per unit of `delivery`; a message that does not parse stays one delivery.
pub fn per_unit(delivery: Delivery<WorkMessages>) -> Vec<Delivery<WorkMessage>> {
    let Delivery {
        body,
        redelivered,
        acker,
    } = delivery;
    let units = match body {
        Err(unreadable) => {
            return vec![Delivery {
                body: Err(unreadable),
                redelivered,
                acker,
            }]
        }
        Ok(units) => units.0,
    };
    let mut units = units;
    if units.len() == 1 {
        // Alone in its message: it keeps the message's own acker.
        if let Some(unit) = units.pop() {
            return vec![Delivery {
                body: Ok(unit),
                redelivered,
                acker,
            }];
        }
    }
    let shared = Arc::new(Shared {
        acker,
        left: AtomicUsize::new(units.len()),
        handed_back: AtomicBool::new(false),
    });
    units
        .into_iter()
        .map(|unit| Delivery {
            body: Ok(unit),
            redelivered,
            acker: Box::new(Part(shared.clone())) as Box<dyn Acker>,
        })
        .collect()
}

struct Shared {
    acker: Box<dyn Acker>,
    left: AtomicUsize,
    handed_back: AtomicBool,
}

impl Shared {
    async fn settle(&self, hand_back: bool) -> anyhow::Result<()> {
        if hand_back {
            self.handed_back.store(true, Ordering::SeqCst);
        }
        if self.left.fetch_sub(1, Ordering::SeqCst) != 1 {
            return Ok(());
        }
        if self.handed_back.load(Ordering::SeqCst) {
            self.acker.requeue().await
        } else {
            self.acker.ack().await
        }
    }
}

/// One unit's share of a delivery.
struct Part(Arc<Shared>);

#[async_trait]
impl Acker for Part {
    async fn ack(&self) -> anyhow::Result<()> {
        self.0.settle(false).await
    }
    async fn requeue(&self) -> anyhow::Result<()> {
        self.0.settle(true).await
    }
    /// A unit is rejected only when it cannot be read, and then the whole message could not
    /// be: one part alone is settled as done.
    async fn reject(&self) -> anyhow::Result<()> {
        self.0.settle(false).await
    }
}

#[cfg(test)]
mod tests {
    use crate::ids::{JobId, UnitId};
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::{messages::OneOrMany, status::Stage};

    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<&'static str>>>);

    #[async_trait]
    impl Acker for Log {
        async fn ack(&self) -> anyhow::Result<()> {
            self.0.lock().expect("log").push("ack");
            Ok(())
        }
        async fn requeue(&self) -> anyhow::Result<()> {
            self.0.lock().expect("log").push("requeue");
            Ok(())
        }
        async fn reject(&self) -> anyhow::Result<()> {
            self.0.lock().expect("log").push("reject");
            Ok(())
        }
    }

    fn delivery(n: i64, log: &Log) -> Delivery<WorkMessages> {
        let units = (0..n)
            .map(|i| WorkMessage {
                unit_id: UnitId(i),
                job_id: JobId(1),
                action: "a".into(),
                stage: Stage::Process,
                input: json!("x"),
                input_key: None,
                options: json!({}),
                options_key: None,
                attempt: 0,
                max_attempts: 3,
                lane: crate::lane::Lane::First,
            })
            .collect();
        Delivery {
            body: Ok(OneOrMany(units)),
            redelivered: true,
            acker: Box::new(log.clone()),
        }
    }

    #[tokio::test]
    async fn the_message_is_acked_once_its_last_unit_is() {
        let log = Log::default();
        let parts = per_unit(delivery(3, &log));
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.redelivered));
        for (i, part) in parts.iter().enumerate() {
            assert_eq!(
                part.body.as_ref().expect("a unit").unit_id,
                UnitId(i as i64)
            );
            part.acker.ack().await.expect("ack");
        }
        assert_eq!(*log.0.lock().expect("log"), ["ack"]);
    }

    #[tokio::test]
    async fn one_unit_handed_back_hands_back_the_message() {
        let log = Log::default();
        let parts = per_unit(delivery(2, &log));
        parts[0].acker.requeue().await.expect("requeue");
        assert!(log.0.lock().expect("log").is_empty(), "not before the last");
        parts[1].acker.ack().await.expect("ack");
        assert_eq!(*log.0.lock().expect("log"), ["requeue"]);
    }

    #[tokio::test]
    async fn a_single_unit_keeps_its_own_acker() {
        let log = Log::default();
        let parts = per_unit(delivery(1, &log));
        parts[0].acker.ack().await.expect("ack");
        assert_eq!(*log.0.lock().expect("log"), ["ack"]);
    }
}
