//! `hotline-adapter [--config adapter.toml]` runs the adapter; `hotline-adapter recover
//! --config adapter.toml` rebuilds a damaged local store. Everything past collecting the
//! arguments is in [`hotline_adapter::cli`], so the tests run exactly this code in a child
//! process.

/// mimalloc: with glibc's allocator the gateway's writer spent about 45% of its time in
/// malloc and free (BENCHMARKS.md, "Where the writer's time goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

fn main() -> ExitCode {
    let env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("HOTLINE_"))
        .collect();
    ExitCode::from(hotline_adapter::cli::run_args(std::env::args_os(), &env))
}
