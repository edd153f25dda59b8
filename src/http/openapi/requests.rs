//! What each endpoint takes (see [`super::schemas`]).

use utoipa::{IntoParams, ToSchema};

/// `shop/order/create`: the seed's fields.
#[derive(ToSchema)]
pub struct CreateOrderForm {
    /// The caller's company (the gateway supplies it).
    #[schema(example = 421)]
    pub company_id: u64,
    /// The caller (the gateway supplies it); the order belongs to (`company_id`, `member_id`).
    #[schema(example = 32171)]
    pub member_id: u64,
    /// The business.
    #[schema(example = 10000001)]
    pub business_id: u64,
    /// Optional, validated and kept.
    #[schema(example = 22.5483)]
    pub latitude: Option<f64>,
    /// Optional, validated and kept.
    #[schema(example = 113.9174)]
    pub longitude: Option<f64>,
    /// Optional.
    #[schema(example = 4403)]
    pub city_id: Option<u64>,
    /// The business subsystem's system id (30: the activity platform).
    #[schema(example = 30)]
    pub sys_id: u64,
    /// `sku:qty[,sku:qty…]`; for activities the SKU is the `apply_id` of `wxActivity/apply`.
    #[schema(example = "10001:1")]
    pub sku_slice: String,
    /// The subsystem that owns the SKUs (3001: the activity platform); `order_no` starts with it.
    #[schema(example = 3001)]
    pub business_type: u16,
    /// A client tag stored with the order (the seed sends `ppsport`); not an idempotency key.
    #[schema(example = "ppsport")]
    pub request_id: Option<String>,
    /// JSON object (a string in a form), passed to the subsystem.
    #[schema(example = r#"{"platform_id":3}"#)]
    pub handle_info: Option<String>,
    /// Default 2.
    #[schema(example = 2)]
    pub order_from: Option<u32>,
    /// Default 0.
    #[schema(example = 0)]
    pub sales_id: Option<u64>,
    /// The same as the `Idempotency-Key` header: the same key from the same member with the
    /// same parameters returns the same order (kept at least 24 h).
    pub idempotency_key: Option<String>,
}

/// `shop/order/pay`.
#[derive(ToSchema)]
pub struct PayForm {
    /// The owner's company.
    #[schema(example = 421)]
    pub company_id: u64,
    /// The owner.
    #[schema(example = 32171)]
    pub member_id: u64,
    /// Accepted, not needed.
    #[schema(example = 10000001)]
    pub business_id: Option<u64>,
    /// Optional.
    #[schema(example = 22.5483)]
    pub latitude: Option<f64>,
    /// Optional.
    #[schema(example = 113.9174)]
    pub longitude: Option<f64>,
    /// Optional.
    #[schema(example = 4403)]
    pub city_id: Option<u64>,
    /// The order to pay (19 digits).
    #[schema(example = "2013150001004525628")]
    pub parent_order_no: String,
    /// `110`: UMS WeChat mini-program pay, the only one.
    #[schema(example = 110)]
    pub payment_way: u32,
    /// JSON object (a string in a form).
    #[schema(example = r#"{"trade_pay_type":"umsPay.open.mini","msg_type":"wx.unifiedOrder"}"#)]
    pub extend_field: Option<String>,
    /// The payer's openid (`subOpenId`); by default taken from the member's profile.
    pub open_id: Option<String>,
}

/// `shop/order/cancel`.
#[derive(ToSchema)]
pub struct CancelForm {
    /// The owner's company.
    #[schema(example = 421)]
    pub company_id: u64,
    /// The owner.
    #[schema(example = 32171)]
    pub member_id: u64,
    /// Accepted, not needed.
    #[schema(example = 10000001)]
    pub business_id: Option<u64>,
    /// The order to cancel.
    #[schema(example = "2013150001004525628")]
    pub parent_order_no: String,
}

/// `shop/order/list`: query string (GET) or body (POST).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderListQuery {
    /// The caller's company.
    #[param(example = 421)]
    pub company_id: u64,
    /// The caller: only their own orders are listed.
    #[param(example = 32171)]
    pub member_id: u64,
    /// Accepted, not needed.
    #[param(example = 10000001)]
    pub business_id: Option<u64>,
    /// Only orders with this `order_status` (0 unpaid, 1 paid, 2 closed, 3 refunded).
    pub status: Option<u8>,
    /// Orders per page, 1–100 (default 20).
    #[param(example = 20)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page; absent: the newest orders.
    pub cursor: Option<String>,
}

/// `shop/order/refund`.
#[derive(ToSchema)]
pub struct RefundForm {
    /// The owner's company.
    #[schema(example = 421)]
    pub company_id: u64,
    /// The owner; anyone else is answered as if the order did not exist.
    #[schema(example = 32171)]
    pub member_id: u64,
    /// Accepted, not needed.
    #[schema(example = 10000001)]
    pub business_id: Option<u64>,
    /// The paid order to refund in full.
    #[schema(example = "2013150001004525628")]
    pub parent_order_no: String,
    /// Why, up to 256 bytes (logged).
    #[schema(example = "行程有变")]
    pub reason: Option<String>,
}

/// `shop/order/adminRefund` (admin).
#[derive(ToSchema)]
pub struct AdminRefundForm {
    /// Any member's paid order.
    #[schema(example = "2013150001004525628")]
    pub parent_order_no: String,
    /// Why, 1–256 bytes (logged).
    #[schema(example = "活动取消")]
    pub reason: String,
    /// The admin token, when not sent as `Authorization: Bearer …`.
    pub admin_token: Option<String>,
}

/// `shop/order/state`, `shop/order/detail`: query string (GET) or body (POST).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// The owner's company.
    #[param(example = 421)]
    pub company_id: u64,
    /// The owner; anyone else is answered as if the order did not exist.
    #[param(example = 32171)]
    pub member_id: u64,
    /// Accepted, not needed.
    #[param(example = 10000001)]
    pub business_id: Option<u64>,
    /// The order (19 digits).
    #[param(example = "2013150001004525628")]
    pub parent_order_no: String,
    /// Optional.
    pub latitude: Option<f64>,
    /// Optional.
    pub longitude: Option<f64>,
    /// Optional.
    pub city_id: Option<u64>,
}

/// `activityPlatform/activity/save` (admin).
#[derive(ToSchema)]
pub struct SaveActivityForm {
    /// Name, up to 64 characters.
    #[schema(example = "欢乐活动")]
    pub name: String,
    /// Price of one seat in **fen** (admin input; frontends see yuan).
    #[schema(example = 1)]
    pub price: u64,
    /// Capacity, 1–10 000 000.
    #[schema(example = 100)]
    pub seats: u32,
    /// Sign-up opens (Unix s; 0 or absent: now).
    pub start_time: Option<u64>,
    /// Sign-up closes (Unix s; 0 or absent: never); after `start_time`.
    pub end_time: Option<u64>,
    /// Live applies per member, default 1.
    pub per_member_limit: Option<u32>,
    /// Venue name.
    pub stadium_name: Option<String>,
    /// Until when (Unix s) a member may ask for a refund; absent: `start_time`; 0: always.
    pub refund_deadline: Option<u64>,
    /// The admin token, when not sent as `Authorization: Bearer …`.
    pub admin_token: Option<String>,
}

/// `activityPlatform/wxActivity/apply`.
#[derive(ToSchema)]
pub struct ApplyForm {
    /// The caller's company.
    #[schema(example = 421)]
    pub company_id: u64,
    /// The caller.
    #[schema(example = 32171)]
    pub member_id: u64,
    /// The business.
    #[schema(example = 10000001)]
    pub business_id: u64,
    /// Optional.
    pub latitude: Option<f64>,
    /// Optional.
    pub longitude: Option<f64>,
    /// Optional.
    pub city_id: Option<u64>,
    /// The activity.
    #[schema(example = 1)]
    pub activity_id: u64,
    /// Applicant's name, up to 32 characters.
    #[schema(example = "张文林")]
    pub name: String,
    /// Applicant's phone: digits, `+`, `-`, spaces; up to 20.
    #[schema(example = "15976123893")]
    pub phone: String,
    /// JSON object (a string in a form), kept with the apply.
    pub apply_info: Option<String>,
    /// 1: on a full activity, join its waitlist rather than be refused (4090000003).
    #[schema(example = 1)]
    pub waitlist: Option<u8>,
}

/// `activityPlatform/wxActivity/cancelApply`.
#[derive(ToSchema)]
pub struct CancelApplyForm {
    /// The applicant's company.
    #[schema(example = 421)]
    pub company_id: u64,
    /// The applicant; anyone else is answered as if the apply did not exist.
    #[schema(example = 32171)]
    pub member_id: u64,
    /// Accepted, not needed.
    #[schema(example = 10000001)]
    pub business_id: Option<u64>,
    /// The apply to cancel.
    #[schema(example = 10001)]
    pub apply_id: u64,
}

/// `activityPlatform/wxActivity/detail`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// The activity (the embedded default creates 1, 欢乐活动, on an empty store).
    #[param(example = 1)]
    pub activity_id: u64,
}

/// `activityPlatform/wxActivity/applyInfo`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApplyInfoQuery {
    /// The apply (from `wxActivity/apply`).
    #[param(example = 10001)]
    pub apply_id: u64,
    /// Its member; anyone else is answered as if it did not exist.
    #[param(example = 32171)]
    pub member_id: u64,
    /// Its company.
    #[param(example = 421)]
    pub company_id: u64,
}

/// `activityPlatform/activity/applyOrderCreate` (the order center calls it).
#[derive(ToSchema)]
pub struct ApplyOrderCreateForm {
    /// The child order (idempotency key of the call).
    #[schema(example = "3001150011004525628")]
    pub order_no: String,
    /// Its parent.
    #[schema(example = "2013150001004525628")]
    pub parent_order_no: String,
    /// The member's company.
    pub company_id: u64,
    /// The member.
    pub member_id: u64,
    /// The business.
    pub business_id: u64,
    /// The applies being ordered, `apply_id:1[,…]`.
    #[schema(example = "10001:1")]
    pub sku_slice: String,
    /// JSON object (a string in a form).
    pub handle_info: Option<String>,
    /// The internal token, when not sent as `Authorization: Bearer …`.
    pub internal_token: Option<String>,
}

/// `activityPlatform/activity/applyOrderNotify` (the order center's outbox calls it).
#[derive(ToSchema)]
pub struct ApplyOrderNotifyForm {
    /// The child order.
    pub order_no: String,
    /// Its parent.
    pub parent_order_no: Option<String>,
    /// 1 paid (registration confirmed), 2 closed, 3 refunded (seat released).
    #[schema(example = 1)]
    pub order_status: u8,
    /// The internal token, when not sent as `Authorization: Bearer …`.
    pub internal_token: Option<String>,
}

/// `activityPlatform/activity/applyOrderRefundDeadline`.
#[derive(ToSchema)]
pub struct ApplyOrderRefundDeadlineForm {
    /// The child order.
    pub order_no: String,
    /// Its parent.
    pub parent_order_no: Option<String>,
    /// The internal token, when not sent as `Authorization: Bearer …`.
    pub internal_token: Option<String>,
}

/// `trade/notify/ums`: the provider's notify, signed with the communication key.
#[derive(ToSchema)]
#[allow(non_snake_case)]
pub struct UmsNotifyForm {
    /// The `parent_order_no`.
    pub merOrderId: String,
    /// `TRADE_SUCCESS` settles the payment; other statuses are acknowledged.
    #[schema(example = "TRADE_SUCCESS")]
    pub status: String,
    /// Fen; must equal the order's total.
    pub totalAmount: u64,
    /// `yyyy-MM-dd HH:mm:ss`, China time.
    pub payTime: Option<String>,
    /// The provider's transaction id.
    pub targetOrderId: Option<String>,
    /// `SHA256` or `MD5` (absent: MD5).
    pub signType: Option<String>,
    /// Uppercase hex over the sorted `k=v&…` string plus the key.
    pub sign: String,
}

/// `admin/backup` (admin).
#[derive(ToSchema)]
pub struct BackupForm {
    /// Name of the copy inside the backup directory: 1–64 letters, digits, `-`, `_`, `.`,
    /// not starting with `.`; default `backup-<UTC time>`.
    #[schema(example = "before-upgrade")]
    pub name: Option<String>,
    /// The admin token, if not sent as `Authorization: Bearer …`.
    pub admin_token: Option<String>,
}

/// `admin/reconcile` (admin).
#[derive(ToSchema)]
pub struct ReconcileForm {
    /// Window start, Unix s (inclusive): orders whose payment attempt started then or later.
    #[schema(example = 1747279526)]
    pub since: u64,
    /// Window end, Unix s (exclusive); after `since`.
    #[schema(example = 1747365926)]
    pub until: u64,
    /// `1`: settle what can be settled (confirm the provider's answer); default `0`.
    pub fix: Option<u8>,
    /// The admin token, if not sent as `Authorization: Bearer …`.
    pub admin_token: Option<String>,
}
