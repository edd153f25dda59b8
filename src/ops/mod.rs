//! The operator's commands of the `ordercenter` binary, beside serving: `inspect` (one
//! order and its history, offline) and `backup` (a copy of a store no service holds; a
//! running one is backed up with `POST /admin/backup`) and `reconcile` (with the provider,
//! through the running service). `ordercenter inspect …` runs these instead of the server.

pub mod backup;
pub mod inspect;
pub mod reconcile;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::store::{Store, StoreConfig, StoreError};

/// `ordercenter <tool> …`.
#[derive(Debug, Parser)]
#[command(name = "ordercenter", about = "Operator commands of the order center")]
pub struct ToolCli {
    /// The command.
    #[command(subcommand)]
    pub tool: Tool,
}

/// The operator commands.
#[derive(Debug, Subcommand)]
pub enum Tool {
    /// Prints one order and its history from a data dir, for when the service is down (a
    /// running service holds the store locked: ask it with `GET /admin/orders/NO`).
    Inspect(inspect::InspectArgs),
    /// Copies a store no service holds into a new directory (a running service: `POST
    /// /admin/backup`, consistent as of one instant while it keeps running).
    Backup(backup::BackupArgs),
    /// Compares every order whose payment started in a window with the provider, through
    /// the running service (`POST /admin/reconcile`); `--fix` settles what it can.
    Reconcile(reconcile::ReconcileArgs),
}

/// Whether the first argument names an operator command (else the binary serves).
pub fn is_tool(first: &OsString) -> bool {
    matches!(first.to_str(), Some("inspect" | "backup" | "reconcile"))
}

/// Runs an operator command and says how it ended.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = ToolCli::parse_from(args);
    let outcome = match cli.tool {
        Tool::Inspect(args) => inspect::run(&args),
        Tool::Backup(args) => backup::run(&args),
        Tool::Reconcile(args) => reconcile::run(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ordercenter: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Why an operator command failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// No store there: refused rather than creating an empty one.
    #[error("there is no store in {0} (no sled `db` file); nothing was created")]
    NoStore(PathBuf),
    /// A running service holds the store.
    #[error("the store in {0} is in use by a running ordercenter (sled holds it locked); ask the service instead (GET /admin/orders/…), or stop it first")]
    InUse(PathBuf),
    /// The store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something else.
    #[error("{0}")]
    Other(String),
}

/// Opens the store in `data_dir` for an operator command: never creates one, and says so
/// when a running service holds it. Opening runs the same checks and journal replay as the
/// service's start.
pub fn open_existing(data_dir: &Path) -> Result<Store, ToolError> {
    if !data_dir.join("db").exists() {
        return Err(ToolError::NoStore(data_dir.to_path_buf()));
    }
    let config = StoreConfig {
        data_dir: data_dir.to_path_buf(),
        cache_capacity: 64 << 20,
        disk_reserve_bytes: 0,
    };
    Store::open(&config).map_err(|error| match &error {
        StoreError::Open { source, .. }
            if source.to_string().contains("could not acquire lock") =>
        {
            ToolError::InUse(data_dir.to_path_buf())
        }
        _ => ToolError::Store(error),
    })
}
