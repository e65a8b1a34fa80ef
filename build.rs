// `sqlx::migrate!` embeds the files of `migrations/` at compile time, but on stable Rust it cannot tell
// cargo to watch them: without this, a new migration file is left out of the binary until something
// else in the crate changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
