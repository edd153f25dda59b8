//! `ordercenter inspect --data-dir DIR ORDER_NO`: one order and its history, read from the
//! data dir; the same JSON as `GET /admin/orders/{parent_order_no}` with `--json`, a table
//! otherwise.

use std::path::PathBuf;

use clap::Args;

use super::{open_existing, ToolError};
use crate::domain::{time, OrderNo};
use crate::http::views::admin_order_view;
use crate::store::orders::{InspectedOrder, OrderStore};
use crate::store::outbox::OutboxStore;

/// Arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Directory of the sled store.
    #[arg(long, env = "ORDERCENTER_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// The `parent_order_no` (or the child `order_no`), 19 digits.
    pub order_no: String,
    /// Prints the JSON `GET /admin/orders/…` answers in `data`.
    #[arg(long)]
    pub json: bool,
}

/// Prints the order, or fails naming why (no such order, no store, the service holds it).
pub fn run(args: &InspectArgs) -> Result<(), ToolError> {
    let number = OrderNo::parse(&args.order_no).map_err(|_| {
        ToolError::Other(format!(
            "{:?} is not an order number (19 digits)",
            args.order_no
        ))
    })?;
    let store = open_existing(&args.data_dir)?;
    let found = OrderStore::open(&store)
        .and_then(|orders| orders.inspect(&OutboxStore::open(&store)?, &number));
    let closed = store.close();
    let inspected = found?.ok_or_else(|| {
        ToolError::Other(format!("no order {number} in {}", args.data_dir.display()))
    })?;
    closed?;
    if args.json {
        let text = serde_json::to_string_pretty(&admin_order_view(&inspected))
            .map_err(|error| ToolError::Other(error.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", table(&inspected));
    }
    Ok(())
}

/// The order's main fields, then its history, one line each.
fn table(inspected: &InspectedOrder) -> String {
    let view = admin_order_view(inspected);
    let mut out = String::new();
    for key in [
        "parent_order_no",
        "order_no",
        "status",
        "company_id",
        "member_id",
        "total_fee_fen",
    ] {
        out.push_str(&format!("{key:<16} {}\n", plain(&view[key])));
    }
    let order = &inspected.order;
    out.push_str(&format!(
        "{:<16} {}\n",
        "created",
        time::format_china(order.c_time)
    ));
    out.push_str(&format!(
        "{:<16} {}\n",
        "deadline",
        time::format_china(order.deadline())
    ));
    out.push_str("\nhistory (UTC+8)\n");
    for entry in inspected.history() {
        out.push_str(&format!(
            "{}.{:03}  {:<18} {}\n",
            time::format_china(entry.at_ms / 1000),
            entry.at_ms % 1000,
            entry.what.name(),
            entry.what.detail()
        ));
    }
    out
}

fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
