//! The node list behind `/status`, kept from worker heartbeats.

use std::sync::Arc;

use anyhow::Context;
use crowd_shared::{amqp, messages::Heartbeat, shutdown::CancellationToken};
use futures_util::StreamExt;
use lapin::{options::BasicConsumeOptions, types::FieldTable};

use crate::{keep_running, Dispatcher};

pub async fn run(d: Arc<Dispatcher>, shutdown: CancellationToken) {
    keep_running("the heartbeat consumer", &shutdown, || {
        session(&d, &shutdown)
    })
    .await;
}

async fn session(d: &Dispatcher, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let conn = amqp::connect(&d.amqp_url, "crowd dispatcher heartbeats").await?;
    let channel = conn.create_channel().await.context("opening a channel")?;
    amqp::declare_heartbeats(&channel, &d.queues).await?;
    // Heartbeats are disposable: auto-ack.
    let options = BasicConsumeOptions {
        no_ack: true,
        ..BasicConsumeOptions::default()
    };
    let mut consumer = channel
        .basic_consume(
            d.queues.heartbeats().as_str().into(),
            "".into(),
            options,
            FieldTable::default(),
        )
        .await
        .context("consuming heartbeats")?;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                conn.close(200, "dispatcher stopping".into()).await.ok();
                return Ok(());
            }
            delivery = consumer.next() => match delivery {
                Some(Ok(delivery)) => match serde_json::from_slice::<Heartbeat>(&delivery.data) {
                    Ok(beat) => {
                        if let Err(e) = d.store.record_heartbeat(&beat).await {
                            tracing::warn!(error = format!("{e:#}"), "heartbeat not recorded");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "ignoring a heartbeat that does not parse"),
                },
                Some(Err(e)) => return Err(anyhow::Error::new(e).context("consuming heartbeats")),
                None => anyhow::bail!("the broker closed the heartbeat consumer"),
            },
        }
    }
}
