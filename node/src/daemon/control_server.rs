//! The control socket: a Unix socket in the data directory, mode 0600.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use futures::{SinkExt, StreamExt};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Framed;
use tracing::{debug, warn};

use super::driver::ControlCall;
use crate::control::{ControlResponse, ServerCodec};

/// Binds the socket (replacing a stale one: the data-dir lock already
/// guarantees no other daemon owns it) and restricts it to the owner.
pub fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    use anyhow::Context;
    if path.exists() {
        std::fs::remove_file(path)
            .with_context(|| format!("removing stale control socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(path)
        .with_context(|| format!("binding control socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("setting mode 0600 on {}", path.display()))?;
    Ok(listener)
}

pub async fn serve(listener: UnixListener, calls: mpsc::Sender<ControlCall>) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                warn!(error = %e, "control socket accept failed");
                continue;
            }
        };
        let calls = calls.clone();
        tokio::spawn(async move {
            let mut framed = Framed::new(stream, ServerCodec::default());
            while let Some(item) = framed.next().await {
                let resp = match item {
                    Ok(req) => {
                        let (tx, rx) = oneshot::channel();
                        if calls.send((req, tx)).await.is_err() {
                            return;
                        }
                        rx.await.unwrap_or(ControlResponse::Error {
                            message: "the node is shutting down".into(),
                        })
                    }
                    Err(e) => {
                        debug!(error = %e, "bad control request");
                        ControlResponse::Error {
                            message: e.to_string(),
                        }
                    }
                };
                if framed.send(&resp).await.is_err() {
                    return;
                }
            }
        });
    }
}
