//! The node list behind `/status`, kept from worker heartbeats.

use std::sync::Arc;

use crowd_shared::shutdown::CancellationToken;
use futures_util::StreamExt;

use crate::{keep_running, Dispatcher};

pub async fn run(d: Arc<Dispatcher>, shutdown: CancellationToken) {
    keep_running("the heartbeat consumer", &shutdown, || {
        session(&d, &shutdown)
    })
    .await;
}

async fn session(d: &Dispatcher, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let mut link = d.queue.heartbeats().await?;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                link.control.close().await;
                return Ok(());
            }
            delivery = link.deliveries.next() => match delivery {
                Some(Ok(delivery)) => {
                    match &delivery.body {
                        Ok(beat) => {
                            if let Err(e) = d.store.record_heartbeat(beat).await {
                                tracing::warn!(error = format!("{e:#}"), "heartbeat not recorded");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e.error, "ignoring a heartbeat that does not parse"),
                    }
                    // Settled whatever happened: a heartbeat is only worth something once.
                    let _ = delivery.acker.ack().await; // auto-acked: nothing to send
                }
                Some(Err(e)) => return Err(e.context("consuming heartbeats")),
                None => anyhow::bail!("the heartbeat queue closed"),
            },
        }
    }
}
