//! The `generals` binary: parse, dispatch, print errors with their causes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
