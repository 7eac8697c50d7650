//! Wake-ups by LISTEN/NOTIFY: new work and due callbacks are acted on at once, not on a timer.
//! (The dispatcher's loops still poll slowly, in case a notification is lost while
//! reconnecting.)

use futures_util::StreamExt;
use tokio_postgres::AsyncMessage;

use crate::{channels, retry::keep_running, shutdown::CancellationToken, store::Wakeups};

pub(super) async fn watch(database_url: &str, wakeups: &Wakeups, shutdown: &CancellationToken) {
    keep_running("the LISTEN connection", shutdown, || {
        session(database_url, wakeups, shutdown)
    })
    .await;
}

async fn session(
    database_url: &str,
    wakeups: &Wakeups,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let (config, tls) = super::pool::connection_config(database_url)?;
    let (client, mut connection) = config.connect(tls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.channel().to_string()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN connection error");
                    return;
                }
            }
        }
    });
    client
        .batch_execute(&format!(
            "LISTEN {}; LISTEN {};",
            channels::WORK,
            channels::CALLBACKS
        ))
        .await?;
    // Anything notified while we were not listening is picked up now.
    wakeups.wake_all();
    let result = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            channel = rx.recv() => match channel.as_deref() {
                Some(channels::WORK) => wakeups.work.notify_one(),
                Some(channels::CALLBACKS) => wakeups.callbacks.notify_one(),
                Some(_) => {}
                None => break Err(anyhow::anyhow!("the LISTEN connection closed")),
            },
        }
    };
    driver.abort();
    result
}
