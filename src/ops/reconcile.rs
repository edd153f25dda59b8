//! `ordercenter reconcile --since S --until U [--fix] [--json]`: asks the running service
//! (`POST /admin/reconcile`) to compare every order whose payment started in the window
//! with the provider, and prints the mismatches as a table, or as the JSON it answered.
//! Reconciliation needs the service: fixing goes through its order actors.

use clap::Args;

use super::ToolError;
use crate::domain::time;

/// Arguments of `reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The running service.
    #[arg(long, env = "ORDERCENTER_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The admin token, when the service has one.
    #[arg(long, env = "ORDERCENTER_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Window start, Unix seconds (default: 24 h ago).
    #[arg(long)]
    pub since: Option<u64>,
    /// Window end, Unix seconds, exclusive (default: now).
    #[arg(long)]
    pub until: Option<u64>,
    /// Settle what can be settled (the provider's answer confirmed as by its notify).
    #[arg(long)]
    pub fix: bool,
    /// Prints the JSON the service answered in `data`.
    #[arg(long)]
    pub json: bool,
}

/// Asks, prints, and fails when the service refuses or a mismatch is left unfixed.
pub fn run(args: &ReconcileArgs) -> Result<(), ToolError> {
    let now = time::now_secs();
    let until = args.until.unwrap_or(now + 1);
    let since = args.since.unwrap_or(until.saturating_sub(86_400));
    let mut form = vec![
        ("since", since.to_string()),
        ("until", until.to_string()),
        ("fix", u8::from(args.fix).to_string()),
    ];
    if let Some(token) = &args.admin_token {
        form.push(("admin_token", token.clone()));
    }
    let url = format!("{}/admin/reconcile", args.url.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| ToolError::Other(error.to_string()))?;
    let answer: serde_json::Value = runtime
        .block_on(async {
            let response = reqwest::Client::new().post(&url).form(&form).send().await?;
            response.json().await
        })
        .map_err(|error| ToolError::Other(format!("{url}: {error}")))?;
    if answer["code"] != 200 {
        return Err(ToolError::Other(format!("{url} refused: {answer}")));
    }
    let data = &answer["data"];
    if args.json {
        let text = serde_json::to_string_pretty(data)
            .map_err(|error| ToolError::Other(error.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", table(data));
    }
    let unsettled = data["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|finding| {
            !finding["fix"]
                .as_str()
                .is_some_and(|fix| fix.starts_with("settled"))
        })
        .count();
    if unsettled > 0 {
        return Err(ToolError::Other(format!(
            "{unsettled} mismatch(es) with the provider left unsettled"
        )));
    }
    Ok(())
}

fn table(data: &serde_json::Value) -> String {
    let text = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let mut out = format!(
        "checked {} orders with a payment started in [{}, {}) (UTC+8: {} … {})\n",
        data["checked"],
        data["since"],
        data["until"],
        time::format_china(data["since"].as_u64().unwrap_or(0)),
        time::format_china(data["until"].as_u64().unwrap_or(0)),
    );
    out.push_str(&format!(
        "{:<20} {:<27} {:<15} {:<14} {:>8}  {}\n",
        "parent_order_no", "mismatch", "ours", "provider", "fen", "fix"
    ));
    for finding in data["findings"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<20} {:<27} {:<15} {:<14} {:>8}  {}\n",
            text(&finding["parent_order_no"]),
            text(&finding["mismatch"]),
            text(&finding["ours"]),
            text(&finding["provider"]),
            text(&finding["amount_fen"]),
            text(&finding["fix"]),
        ));
    }
    for order in data["unanswered"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{} not answered by the provider; ask again\n",
            text(order)
        ));
    }
    out
}
