//! Bakes the commit the binary was built from into `GENERALS_COMMIT`, for
//! `generals --version`.
//!
//! Order of sources: the `GENERALS_COMMIT` environment variable (for
//! packagers building from a tarball who know the commit), then
//! `git rev-parse --short HEAD`, then "unknown" (no git, or not a checkout).

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=GENERALS_COMMIT");
    println!("cargo:rerun-if-changed=build.rs");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = std::env::var("GENERALS_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| {
            let commit = git(&dir, &["rev-parse", "--short", "HEAD"])?;
            // Build again when HEAD moves: HEAD itself (a branch switch), the
            // branch's ref (a commit) and packed-refs. --git-path resolves
            // both in a plain clone and in a worktree.
            let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
            watched.extend(git(&dir, &["rev-parse", "--symbolic-full-name", "HEAD"]));
            for name in watched {
                // Only files that exist: a missing one would rerun this every build.
                let path = git(&dir, &["rev-parse", "--git-path", &name]).map(|p| dir.join(p));
                if let Some(path) = path.filter(|p| p.is_file()) {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
            Some(commit)
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=GENERALS_COMMIT={commit}");
}
