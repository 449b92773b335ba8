//! The `generals` binary: parse, dispatch, print errors with their causes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let args = generals_node::cli::Cli::parse();
    match generals_node::cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            let top = err.to_string();
            // Under systemd, a node that cannot start says why at priority err.
            let p = generals_node::daemon::logging::exit_error_prefix();
            eprintln!("{p}error: {top}");
            // Skip causes the message already quotes (thiserror errors often do).
            for cause in err
                .chain()
                .skip(1)
                .map(|c| c.to_string())
                .filter(|c| !top.contains(c.as_str()))
            {
                eprintln!("{p}  caused by: {cause}");
            }
            ExitCode::from(1)
        }
    }
}

/// `generals status | head` closes stdout early, and `println!` then panics
/// with a backtrace. Exit quietly instead, with the status a C tool killed by
/// SIGPIPE shows (128 + 13); restoring SIGPIPE itself would need unsafe code.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("(os error 32)") {
            std::process::exit(141);
        }
        default(info)
    }));
}
