//! `ordercenter backup --data-dir DIR --to COPY`: the same copy as `POST /admin/backup`
//! ([`crate::store::backup`]), of a store no service holds. A running service holds its
//! store locked: back it up online with `POST /admin/backup` instead.

use std::path::PathBuf;

use clap::Args;

use super::{open_existing, ToolError};

/// Arguments of `backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Directory of the sled store.
    #[arg(long, env = "ORDERCENTER_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Where the copy goes; must not exist yet.
    #[arg(long)]
    pub to: PathBuf,
}

/// Copies the store and prints what the copy holds (JSON).
pub fn run(args: &BackupArgs) -> Result<(), ToolError> {
    if args.to.exists() {
        return Err(ToolError::Other(format!(
            "{} exists already; a backup goes into a new directory",
            args.to.display()
        )));
    }
    let store = open_existing(&args.data_dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| ToolError::Other(error.to_string()))?;
    let copied = runtime.block_on(store.backup(args.to.clone()));
    let closed = store.close();
    let report = copied?;
    closed?;
    let text = serde_json::to_string_pretty(&report)
        .map_err(|error| ToolError::Other(error.to_string()))?;
    println!("{text}");
    Ok(())
}
