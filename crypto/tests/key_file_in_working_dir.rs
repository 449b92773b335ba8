//! A key file named without a directory (`keygen --out node.key`) is saved in
//! the working directory. Its own binary, because it changes the process's
//! working directory.
//!
//! Mutation seen to fail it: `NodeKey::save` syncing the parent directory of
//! a bare file name (the empty path) instead of skipping it.

use generals_crypto::NodeKey;
use std::path::Path;

#[test]
fn a_key_saved_under_a_bare_file_name_lands_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    let key = NodeKey::from_seed([9; 32]);
    key.save(Path::new("node.key")).unwrap();
    let back = NodeKey::load(&dir.path().join("node.key")).unwrap();
    assert_eq!(back.public(), key.public());
}
