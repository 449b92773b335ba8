//! The control socket: a Unix socket in the data directory, mode 0600.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use futures::{SinkExt, StreamExt};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::codec::Framed;
use tracing::{debug, warn};

use super::accept::AcceptBackoff;
use super::driver::ControlCall;
use super::log_limit::LogLimiter;
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

/// Connections served at once. The socket is the node's user's alone, so
/// this bounds a stuck or runaway script, not a stranger; past it a
/// connection is closed at once (the CLI says the daemon closed it).
pub const MAX_CONNECTIONS: usize = 64;

pub async fn serve(listener: UnixListener, calls: mpsc::Sender<ControlCall>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = AcceptBackoff::new("control socket");
    let mut refused = LogLimiter::<()>::default();
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                backoff.failed(&e).await;
                continue;
            }
        };
        backoff.succeeded();
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if let Some(not_logged) = refused.admit((), Instant::now()) {
                warn!(
                    max = MAX_CONNECTIONS,
                    not_logged, "control socket: too many connections open; closing new ones"
                );
            }
            continue;
        };
        let calls = calls.clone();
        tokio::spawn(async move {
            let _slot = slot;
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
