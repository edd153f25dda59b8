//! `ordercenter`: the whole embedded stack on one port (`cargo run --release`), and the
//! operator's commands (`ordercenter inspect …`, see [`ordercenter::ops`]).

use std::process::ExitCode;

use clap::Parser;
use ordercenter::config::Config;
use ordercenter::ops;
use ordercenter::startup::Application;
use ordercenter::telemetry;

/// mimalloc instead of glibc malloc: the request path allocates a lot, and glibc's malloc
/// was ~15 % of the server's CPU in a create profile (BENCHMARKS.md). Built without its
/// transparent-huge-page advice (`no_thp`): memory it gave back and takes again was faulted
/// in 2 MiB at a time, and zeroing those pages was 28 % of the order actors' threads when
/// 10 000 orders closed together (BENCHMARKS.md, expiry).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let first = std::env::args_os().nth(1);
    if first.as_ref().is_some_and(ops::is_tool) {
        return ops::run(std::env::args_os());
    }
    serve()
}

#[actix_web::main]
async fn serve() -> ExitCode {
    let config = Config::parse();
    let _log = telemetry::init();
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("ordercenter: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("ordercenter listening on http://{}", app.address());
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ordercenter: {error}");
            ExitCode::FAILURE
        }
    }
}
