//! The `tierlink` binary: everything it does lives in the library.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tierlink::cli::main().await
}
