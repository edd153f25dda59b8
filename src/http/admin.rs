//! `/admin/*`: what an operator asks about one order (admin token, as `activity/save`).

use actix_web::{web, HttpResponse};

use super::activity::require_token;
use super::envelope::{success, Envelope};
use super::error::{ApiError, Token};
use super::input::Fields;
use super::openapi::schemas as doc;
use super::views::admin_order_view;
use super::AppState;
use crate::domain::OrderNo;
use crate::workflow::OrderError;

/// `GET /admin/orders/{parent_order_no}` (admin): the order as kept (internal status,
/// owner, payment and refund), the member's detail view, and everything that happened to
/// it, each with its time. The child `order_no` is accepted too. Offline, `ordercenter
/// inspect --data-dir DIR ORDER_NO` prints the same.
#[utoipa::path(get, path = "/admin/orders/{parent_order_no}", tag = "operations",
    summary = "One order and its history (admin)",
    params(("parent_order_no" = String, Path, description = "19 digits: the parent order number (or the child order_no)")),
    security((), ("admin_token" = [])),
    responses((status = 200, description = "The order and its history", body = Envelope<doc::AdminOrderData>)))]
pub async fn order(
    state: web::Data<AppState>,
    number: web::Path<String>,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    require_token(Token::Admin, state.admin_token.as_deref(), &fields)?;
    let number = OrderNo::parse(&number)
        .map_err(|_| ApiError::malformed("parent_order_no", "应为 19 位数字"))?;
    match state.center.inspect(number).await? {
        Some(inspected) => Ok(success(admin_order_view(&inspected))),
        None => Err(OrderError::NotFound.into()),
    }
}

/// Longest backup name.
const MAX_BACKUP_NAME: usize = 64;

/// A backup's name: letters, digits, `-`, `_`, `.`, not starting with `.` (so it names a
/// directory inside the backup directory, nothing else).
fn backup_name(fields: &Fields) -> Result<String, ApiError> {
    let Some(name) = fields.optional_text("name", MAX_BACKUP_NAME)? else {
        let now = chrono::Utc::now();
        return Ok(format!("backup-{}", now.format("%Y%m%d-%H%M%S-%3f")));
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.starts_with('.') || !name.chars().all(allowed) {
        return Err(ApiError::malformed(
            "name",
            "应为 1–64 个字母、数字、-、_ 或 .（不以 . 开头）",
        ));
    }
    Ok(name)
}

/// `POST /admin/backup` (admin): copies the running store into `--backup-dir`/`name`
/// (default `backup-<UTC time>`), consistent as of one instant; writes wait only for the
/// second, catching-up pass ([`crate::store::backup`]). One backup at a time.
#[utoipa::path(post, path = "/admin/backup", tag = "operations",
    summary = "Online backup of the store (admin)",
    request_body(content = doc::BackupForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("admin_token" = [])),
    responses((status = 200, description = "Where the copy is and what it holds", body = Envelope<doc::BackupData>)))]
pub async fn backup(state: web::Data<AppState>, fields: Fields) -> Result<HttpResponse, ApiError> {
    require_token(Token::Admin, state.admin_token.as_deref(), &fields)?;
    let name = backup_name(&fields)?;
    let to = state.backup_dir.join(&name);
    if to.exists() {
        return Err(ApiError::malformed("name", "该备份已存在"));
    }
    let Ok(_one_at_a_time) = state.backing_up.try_lock() else {
        return Err(ApiError::Unavailable);
    };
    if let Err(error) = std::fs::create_dir_all(&state.backup_dir) {
        tracing::error!(%error, dir = %state.backup_dir.display(), "cannot create the backup directory");
        return Err(ApiError::Internal(error.to_string()));
    }
    let report = state.center.store().backup(to).await.map_err(|error| {
        tracing::error!(%error, "backup failed");
        ApiError::from(error)
    })?;
    tracing::info!(to = %report.to.display(), keys = report.keys, copy_ms = report.copy_ms, paused_writes_ms = report.paused_writes_ms, "backup written");
    Ok(success(serde_json::json!({
        "to": report.to.display().to_string(),
        "trees": report.trees,
        "keys": report.keys,
        "bytes": report.bytes,
        "caught_up": report.caught_up,
        "copy_ms": report.copy_ms,
        "paused_writes_ms": report.paused_writes_ms,
        "durable_mark": report.durable_mark,
    })))
}

/// `POST /admin/reconcile` (admin): every order whose payment attempt started in
/// `[since, until)` beside the provider's query; each mismatch, and with `fix=1` what was
/// done about it ([`crate::actors::reconcile`]).
#[utoipa::path(post, path = "/admin/reconcile", tag = "operations",
    summary = "Reconcile with the provider (对账, admin)",
    request_body(content = doc::ReconcileForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("admin_token" = [])),
    responses((status = 200, description = "The mismatches found (and fixed)", body = Envelope<doc::ReconcileData>)))]
pub async fn reconcile(
    state: web::Data<AppState>,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    require_token(Token::Admin, state.admin_token.as_deref(), &fields)?;
    const LATEST: u64 = 32_503_680_000;
    let since = fields
        .u64_in("since", 0..=LATEST)?
        .ok_or_else(|| ApiError::missing("since"))?;
    let until = fields
        .u64_in("until", 0..=LATEST)?
        .ok_or_else(|| ApiError::missing("until"))?;
    if until <= since {
        return Err(ApiError::malformed("until", "必须晚于 since"));
    }
    let fix = fields.u64_in("fix", 0..=1)?.unwrap_or(0) == 1;
    let report = state.center.reconcile(since, until, fix).await?;
    let body = serde_json::to_value(&report).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(success(body))
}
