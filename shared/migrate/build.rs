//! `include_dir!` does not tell cargo which files it read: without this a
//! new migration file would not be embedded until something else changed.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
