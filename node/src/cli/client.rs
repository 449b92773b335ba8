//! The CLI side of the control socket: one request, one response.
//!
//! The daemon listens on `DATA_DIR/control.sock` (mode 0600), so finding a
//! node means loading its config. Every way of not reaching it gets an error
//! that says what to do next.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures::{SinkExt, StreamExt};
use generals_config::NodeConfig;
use tokio::net::UnixStream;
use tokio_util::codec::Framed;

use crate::control::{socket_path, ClientCodec, ControlRequest, ControlResponse};

/// How long to wait for an answer beyond what the request itself asks for.
const ANSWER_SLACK: Duration = Duration::from_secs(30);

/// Sends `req` to the daemon of the node configured in `config_path` and
/// returns its answer (which may be [`ControlResponse::Error`]).
pub async fn request(config_path: &Path, req: ControlRequest) -> anyhow::Result<ControlResponse> {
    Connection::open(config_path).await?.call(req).await
}

/// One open connection to a daemon's control socket, for a caller with many
/// requests (`generals bench`): it answers them one at a time, in order.
#[derive(Debug)]
pub struct Connection {
    framed: Framed<UnixStream, ClientCodec>,
    config: PathBuf,
    sock: PathBuf,
}

impl Connection {
    /// Connects to the daemon of the node configured in `config_path`.
    pub async fn open(config_path: &Path) -> anyhow::Result<Connection> {
        let cfg = NodeConfig::load(config_path)?;
        let sock = socket_path(cfg.data_dir());
        let stream = UnixStream::connect(&sock)
            .await
            .map_err(|e| connect_error(e, config_path, &sock))?;
        Ok(Connection {
            framed: Framed::new(stream, ClientCodec::default()),
            config: config_path.to_owned(),
            sock,
        })
    }

    /// Sends `req` and returns the answer (which may be [`ControlResponse::Error`]).
    pub async fn call(&mut self, req: ControlRequest) -> anyhow::Result<ControlResponse> {
        let limit = answer_timeout(&req);
        let framed = &mut self.framed;
        let talk = async {
            framed.send(&req).await.context("sending the request")?;
            match framed.next().await {
                Some(answer) => answer.context("reading the answer"),
                None => bail!("the daemon closed the connection without answering"),
            }
        };
        match tokio::time::timeout(limit, talk).await {
            Ok(answer) => answer.with_context(|| {
                format!(
                    "talking to the daemon of {} over {}",
                    self.config.display(),
                    self.sock.display()
                )
            }),
            Err(_) => Err(anyhow!(
                "the daemon of {} did not answer within {} s over {}; it may be overloaded or stuck \
                 (check its log, or restart it)",
                self.config.display(),
                limit.as_secs(),
                self.sock.display()
            )),
        }
    }
}

/// [`request`] on a current-thread tokio runtime, for callers without one.
pub fn request_blocking(
    config_path: &Path,
    req: ControlRequest,
) -> anyhow::Result<ControlResponse> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(request(config_path, req))
}

/// Turns an `Error` answer into an error carrying the daemon's message.
pub fn check(answer: ControlResponse) -> anyhow::Result<ControlResponse> {
    match answer {
        ControlResponse::Error { message } => Err(anyhow::Error::msg(message)),
        other => Ok(other),
    }
}

/// The error for an answer of the wrong kind.
pub fn unexpected(asked: &str, answer: &ControlResponse) -> anyhow::Error {
    let kind = match answer {
        ControlResponse::Ordered { .. } => "ordered",
        ControlResponse::Report(_) => "report",
        ControlResponse::Status(_) => "status",
        ControlResponse::EvidenceList { .. } => "evidence_list",
        ControlResponse::Evidence { .. } => "evidence",
        ControlResponse::Error { .. } => "error",
    };
    anyhow!(
        "the daemon answered a {asked} request with a {kind:?} response; \
         are the CLI and the daemon the same version of generals?"
    )
}

fn answer_timeout(req: &ControlRequest) -> Duration {
    match req {
        ControlRequest::Wait { timeout_ms, .. } => {
            Duration::from_millis(*timeout_ms).saturating_add(ANSWER_SLACK)
        }
        _ => ANSWER_SLACK,
    }
}

fn connect_error(e: io::Error, config: &Path, sock: &Path) -> anyhow::Error {
    let config = config.display();
    let path = sock.display();
    let start = format!("start it with `generals node --config {config}`");
    let text = match e.kind() {
        io::ErrorKind::NotFound => {
            format!("no daemon is running for {config} (no control socket at {path}); {start}")
        }
        io::ErrorKind::PermissionDenied => format!(
            "permission denied on the control socket {path}: it is mode 0600 and only the user \
             that runs the node may use it; run this command as that user \
             (the one running `generals node --config {config}`)"
        ),
        io::ErrorKind::ConnectionRefused => format!(
            "the control socket {path} exists but nothing answers: it is stale, so the daemon for \
             {config} is not running (it stopped or crashed); {start}"
        ),
        _ => format!("cannot connect to the control socket {path} of {config}"),
    };
    anyhow::Error::new(e).context(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_say_what_to_do() {
        let config = Path::new("/etc/generals/node0/config.toml");
        let sock = Path::new("/var/lib/generals/node0/control.sock");
        let text = |kind| format!("{:#}", connect_error(io::Error::from(kind), config, sock));
        let missing = text(io::ErrorKind::NotFound);
        assert!(missing.contains("no daemon is running"), "{missing}");
        assert!(
            missing.contains("/var/lib/generals/node0/control.sock"),
            "{missing}"
        );
        assert!(
            missing.contains("generals node --config /etc/generals/node0/config.toml"),
            "{missing}"
        );
        let denied = text(io::ErrorKind::PermissionDenied);
        assert!(denied.contains("0600"), "{denied}");
        let refused = text(io::ErrorKind::ConnectionRefused);
        assert!(refused.contains("stale"), "{refused}");
    }

    #[test]
    fn error_answers_become_errors_with_the_message() {
        let err = check(ControlResponse::Error {
            message: "the sky is falling".into(),
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "the sky is falling");
    }
}
