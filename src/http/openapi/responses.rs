//! What each endpoint answers (see [`super::schemas`]).

use serde::Serialize;
use utoipa::ToSchema;

/// `data` of `shop/order/create`: the seed's shape field for field, plus `expire_time`.
#[derive(ToSchema)]
pub struct CreateOrderData {
    /// Unix seconds of the deadline (`c_time` + `overdue_time`), for countdowns.
    #[schema(example = 1747280006)]
    pub expire_time: u64,
    /// The child order, its items and the subsystem's extra.
    pub list: OrderList,
    /// Seconds an unpaid order lives (480 by default).
    #[schema(example = 480)]
    pub overdue_time: u64,
    /// The unit that is paid: 19 digits starting with the provider's `msgSrcId` (2013).
    #[schema(example = "2013150001004525628")]
    pub parent_order_no: String,
    /// `"0"` before payment.
    #[schema(example = "0")]
    pub payment_way: String,
}

/// `data.list`.
#[derive(ToSchema)]
pub struct OrderList {
    /// From the subsystem.
    pub extra: OrderExtra,
    /// One per SKU of `sku_slice`.
    pub item: Vec<OrderItemRow>,
    /// The child order.
    pub order: OrderRow,
}

/// `data.list.extra`.
#[derive(ToSchema)]
pub struct OrderExtra {
    /// Venue.
    #[schema(example = "")]
    pub stadium_name: String,
    /// `"name phone"` of the applicant.
    #[schema(example = "张文林 15976123893")]
    pub user_info: String,
}

/// One line of `data.list.item` (prices in yuan, the shortest way: `0.01`, `12.5`, `100`).
#[derive(ToSchema)]
pub struct OrderItemRow {
    /// The mini-program application (10101).
    pub app_id: u64,
    /// Always 0.
    pub back_sku_num: u8,
    /// The business.
    pub business_id: u64,
    /// Created (Unix s).
    pub c_time: u64,
    /// The owner's company.
    pub company_id: u64,
    /// Row id.
    pub id: u64,
    /// Unit price, yuan.
    pub item_price: f64,
    /// `order_no` + a 3-digit item number (22 digits).
    #[schema(example = "3001150011004525628001")]
    pub order_item_no: String,
    /// The child order.
    pub order_no: String,
    /// Line price, yuan.
    pub pay_price: f64,
    /// 1 once refunded.
    pub refund_status: u8,
    /// Line price, yuan.
    pub sale_price: f64,
    /// As sent (default 0).
    pub sales_id: u64,
    /// The SKU (for activities the `apply_id`).
    #[schema(example = "10001")]
    pub sku: String,
    /// From the subsystem.
    pub sku_img: String,
    /// From the subsystem.
    pub sku_info: String,
    /// From the subsystem (the activity's name).
    #[schema(example = "欢乐活动")]
    pub sku_name: String,
    /// Quantity.
    pub sku_num: u32,
    /// Unit price from the subsystem, yuan.
    pub sku_price: f64,
    /// Always 0.
    pub sport_tag_id: u8,
    /// Always 0.
    pub stadium_id: u8,
    /// Last change (Unix s).
    pub u_time: u64,
}

/// `data.list.order`: the child order (prices in yuan).
#[derive(ToSchema)]
pub struct OrderRow {
    /// The mini-program application (10101).
    pub app_id: u64,
    /// Always 0.
    pub back_subtotal_count: u8,
    /// The business.
    pub business_id: u64,
    /// As a string, e.g. `"3001"`.
    #[schema(example = "3001")]
    pub business_type: String,
    /// Created (Unix s).
    pub c_time: u64,
    /// The owner's company.
    pub company_id: u64,
    /// Always 0.
    pub deduct_price: u8,
    /// Row id.
    pub id: u64,
    /// Always 0.
    pub invoice_status: u8,
    /// The owner.
    pub member_id: u64,
    /// Always 0.
    pub notify_status: u8,
    /// Always empty.
    pub notify_url: String,
    /// As sent (default 2).
    pub order_from: u32,
    /// Always empty.
    pub order_info: String,
    /// The child order: 19 digits starting with `business_type`.
    #[schema(example = "3001150011004525628")]
    pub order_no: String,
    /// Yuan.
    pub order_price: f64,
    /// 0 unpaid, 1 paid, 2 closed, 3 refunded.
    pub order_status: u8,
    /// `活动报名订单` for activities.
    pub order_subject: String,
    /// The parent.
    pub parent_order_no: String,
    /// Always 0.
    pub pay_code_status: u8,
    /// Yuan.
    pub pay_price: f64,
    /// Paid at (Unix s), 0 before.
    pub payment_time: u64,
    /// 110 once paid through UMS, 0 before.
    pub payment_way1: u32,
    /// Paid amount, yuan (0 before).
    pub payment_way1_price: f64,
    /// Always 0.
    pub payment_way2: u8,
    /// Always 0.
    pub payment_way2_price: u8,
    /// 1 once refunded.
    pub refund_status: u8,
    /// Yuan.
    pub sale_price: f64,
    /// As sent (default 0).
    pub sales_id: u64,
    /// Always 0.
    pub stadium_id: u8,
    /// As sent.
    pub sys_id: u64,
    /// Sum of quantities.
    pub total_count: u64,
    /// `sys_id`.
    pub trade_cate_id: u64,
    /// Always `"0"`.
    pub trade_no: String,
    /// `business_type` as a number.
    pub trade_type_id: u16,
    /// Last change (Unix s).
    pub u_time: u64,
}

/// `transaction_status`: what the frontend polls for.
#[derive(Serialize, ToSchema)]
pub enum TransactionStatus {
    /// `订单未支付`: unpaid, still payable (also while a close at the provider is pending).
    #[serde(rename = "0")]
    Unpaid,
    /// `SUCCESS`: paid — stop polling, show 报名成功.
    #[serde(rename = "1")]
    Paid,
    /// `订单已关闭`: expired or cancelled — stop polling.
    #[serde(rename = "2")]
    Closed,
    /// `订单已退款`: paid, then refunded.
    #[serde(rename = "3")]
    Refunded,
}

/// `data` of `shop/order/state` (and of `shop/order/cancel`): the seed's shape plus
/// `expire_time`. Read from the order center's own state: polling never calls the provider.
#[derive(ToSchema)]
pub struct StateData {
    /// Unix seconds of the deadline.
    #[schema(example = 1747280006)]
    pub expire_time: u64,
    /// The order.
    #[schema(example = "2013150001004525628")]
    pub parent_order_no: String,
    /// Always `OK`.
    #[schema(example = "OK")]
    pub return_msg: String,
    /// Payment time once paid, the creation time before (`YYYY-MM-DD HH:MM:SS`, UTC+8).
    #[schema(example = "2025-05-15 11:25:26")]
    pub time_end: String,
    /// Yuan.
    #[schema(example = 0.01)]
    pub total_fee: f64,
    /// Always `"0"`.
    #[schema(example = "0")]
    pub transaction_code: String,
    /// `订单未支付`, `SUCCESS`, `订单已关闭` or `订单已退款`.
    #[schema(example = "订单未支付")]
    pub transaction_msg: String,
    /// See [`TransactionStatus`].
    pub transaction_status: TransactionStatus,
}

/// `data` of `shop/order/detail`: the create response's `data` with current values
/// (`order_status`, `payment_time`, `payment_way`, `pay_price`, `u_time`) and the state's
/// fields.
#[derive(ToSchema)]
pub struct DetailData {
    /// Unix seconds of the deadline.
    pub expire_time: u64,
    /// The child order, its items and the subsystem's extra.
    pub list: OrderList,
    /// Seconds an unpaid order lives.
    pub overdue_time: u64,
    /// The order.
    pub parent_order_no: String,
    /// `"0"` before payment, `"110"` once paid.
    pub payment_way: String,
    /// 1 once a refund was asked for (pending at the provider until `transaction_status`
    /// is `"3"`), else 0; the same as `list.order.refund_status`.
    pub refund_status: u8,
    /// Always `OK`.
    pub return_msg: String,
    /// Payment time once paid, the creation time before.
    pub time_end: String,
    /// Yuan.
    pub total_fee: f64,
    /// Always `"0"`.
    pub transaction_code: String,
    /// See `shop/order/state`.
    pub transaction_msg: String,
    /// See [`TransactionStatus`].
    pub transaction_status: TransactionStatus,
}

/// `data` of `shop/order/pay`: the seed's shape plus `mini_app_id`; what
/// `wx.requestPayment` needs (`timeStamp` = `timestamp`, `nonceStr` = `nonce_str`,
/// `package` = `"prepay_id=" + prepay_id`, `signType` = `sign_type`, `paySign` = `pay_sign`).
#[derive(ToSchema)]
pub struct PayData {
    /// The mini-program appId that `pay_sign` covers.
    #[schema(example = "wx0000000000000000")]
    pub mini_app_id: String,
    /// As signed.
    #[schema(example = "7867518bf7e1480fa04a84894c0661e2")]
    pub nonce_str: String,
    /// The order.
    #[schema(example = "2013150001004525628")]
    pub parent_order_no: String,
    /// base64 SHA256withRSA over `appId\ntimeStamp\nnonceStr\npackage\n`; empty for a free order.
    pub pay_sign: String,
    /// Always empty.
    pub pay_url: String,
    /// 110.
    #[schema(example = 110)]
    pub payment_way: u32,
    /// `wx…`; paying again while a payment is open returns the same one; empty for a free order.
    #[schema(example = "wx151125319537390e319953c133b11e0001")]
    pub prepay_id: String,
    /// Fen, as a string.
    #[schema(example = "1")]
    pub price: String,
    /// `RSA`.
    #[schema(example = "RSA")]
    pub sign_type: String,
    /// Unix seconds, as a string.
    #[schema(example = "1747279531")]
    pub timestamp: String,
    /// Always `"0"`.
    pub transaction_code: String,
    /// Empty, or `SUCCESS` when a free order was paid at once.
    pub transaction_msg: String,
    /// `"0"` (pay, then poll the state), or `"1"` when a free order was paid at once.
    pub transaction_status: TransactionStatus,
}

/// Sign-up status of an activity.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityStatus {
    /// Open for sign-up.
    Open,
    /// Before `start_time`.
    NotStarted,
    /// After `end_time`.
    Ended,
    /// Disabled.
    Disabled,
}

/// `data` of `wxActivity/detail` and `activity/save`.
#[derive(ToSchema)]
pub struct ActivityData {
    /// Id.
    #[schema(example = 1)]
    pub activity_id: u64,
    /// Name.
    #[schema(example = "欢乐活动")]
    pub name: String,
    /// Yuan.
    #[schema(example = 0.01)]
    pub price: f64,
    /// Capacity.
    pub seats: u32,
    /// Seats neither reserved nor registered.
    pub seats_left: u32,
    /// Seats held by applies and unpaid orders.
    pub reserved: u32,
    /// Seats of paid registrations.
    pub registered: u32,
    /// Sign-up opens (Unix s).
    pub start_time: u64,
    /// Sign-up closes (Unix s; 0: never).
    pub end_time: u64,
    /// Live applies per member.
    pub per_member_limit: u32,
    /// Venue.
    pub stadium_name: String,
    /// Whether sign-up is open now.
    pub status: ActivityStatus,
    /// Until when (Unix s) a member may ask for a refund; `null`: always.
    pub refund_deadline: Option<u64>,
    /// How many wait for a seat.
    pub waitlist: u32,
}

/// One order of `shop/order/list`.
#[derive(ToSchema)]
pub struct ListedOrder {
    /// The order to pay, poll or refund.
    #[schema(example = "2013150001004525628")]
    pub parent_order_no: String,
    /// The child order.
    #[schema(example = "3001150011004525628")]
    pub order_no: String,
    /// 0 unpaid, 1 paid, 2 closed, 3 refunded.
    pub order_status: u8,
    /// Yuan.
    #[schema(example = 0.01)]
    pub pay_price: f64,
    /// The first item's name.
    #[schema(example = "欢乐活动")]
    pub sku_name: String,
    /// Created (Unix s).
    pub c_time: u64,
    /// The deadline to pay (Unix s).
    pub expire_time: u64,
    /// Paid (Unix s; 0 until paid).
    pub payment_time: u64,
}

/// `data` of `shop/order/list`.
#[derive(ToSchema)]
pub struct OrderListData {
    /// Newest first.
    pub list: Vec<ListedOrder>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `data` of `applyOrderRefundDeadline`.
#[derive(ToSchema)]
pub struct RefundDeadlineData {
    /// Unix s from which the owner may no longer ask for a refund; `null`: always allowed.
    pub refund_deadline: Option<u64>,
}

/// Status of an apply.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplyStatus {
    /// Seat reserved; not paid yet (with or without an order).
    PendingPayment,
    /// Paid: 报名成功.
    Registered,
    /// Released (order closed or refunded, or no order within the TTL), or left the
    /// waitlist.
    Cancelled,
    /// Waiting for a seat of a full activity; becomes `pending_payment` when one is
    /// released.
    Waitlisted,
}

/// `data.apply_info` of `wxActivity/apply`.
#[derive(ToSchema)]
pub struct ApplyBrief {
    /// The apply: the SKU to order.
    #[schema(example = 10001)]
    pub apply_id: u64,
    /// The activity.
    pub activity_id: u64,
    /// `pending_payment` after an apply; `waitlisted` on a full activity with `waitlist=1`.
    pub status: ApplyStatus,
    /// Place in the waitlist (1 = next) while `waitlisted`, else `null`.
    pub position: Option<u32>,
}

/// `data` of `wxActivity/apply`: what `shop/order/create` needs.
#[derive(ToSchema)]
pub struct ApplyData {
    /// The apply.
    pub apply_info: ApplyBrief,
    /// `<apply_id>:1`.
    #[schema(example = "10001:1")]
    pub sku_slice: String,
    /// 3001.
    #[schema(example = 3001)]
    pub business_type: u16,
    /// 30.
    #[schema(example = 30)]
    pub sys_id: u64,
    /// As sent.
    pub business_id: u64,
    /// Yuan.
    #[schema(example = 0.01)]
    pub price: f64,
}

/// `data` of `wxActivity/applyInfo`: the registration as the activity platform sees it.
#[derive(ToSchema)]
pub struct ApplyInfoData {
    /// The apply.
    pub apply_id: u64,
    /// The activity.
    pub activity_id: u64,
    /// Its name.
    pub activity_name: String,
    /// `registered` once paid: 报名成功.
    pub status: ApplyStatus,
    /// Applicant's name.
    pub name: String,
    /// Applicant's phone.
    pub phone: String,
    /// The order bound to it (empty before).
    pub order_no: String,
    /// Its parent (empty before).
    pub parent_order_no: String,
    /// Created (Unix s).
    pub c_time: u64,
    /// Last change (Unix s).
    pub u_time: u64,
    /// Place in the waitlist (1 = next) while `waitlisted`, else `null`.
    pub position: Option<u32>,
}

/// `data` of `applyOrderCreate`: the subsystem prices the SKUs (fen).
#[derive(ToSchema)]
pub struct ApplyOrderCreateData {
    /// One per SKU.
    pub items: Vec<PricedItem>,
    /// `stadium_name`, `user_info`.
    pub extra: OrderExtra,
}

/// One priced SKU of `applyOrderCreate`.
#[derive(ToSchema)]
pub struct PricedItem {
    /// The SKU.
    pub sku: String,
    /// Name.
    pub sku_name: String,
    /// Fen.
    pub sku_price: u64,
    /// Quantity.
    pub sku_num: u32,
    /// Image.
    pub sku_img: String,
    /// Info.
    pub sku_info: String,
}

/// `data` of 4001009999: the unpaid order to pay first (a real client redirects to pay it).
#[derive(ToSchema)]
pub struct PendingOrderData {
    /// The unpaid order.
    #[schema(example = "2013150001004525628")]
    pub parent_order_no: String,
    /// Its business.
    pub business_id: u64,
    /// Always 0.
    pub stadium_id: u8,
}

/// A failure: HTTP 4xx/5xx, a stable business `code`, a user-facing `message` (Chinese;
/// naming the field for validation errors); `data` is `null` except for 4001009999.
#[derive(ToSchema)]
pub struct ErrorEnvelope {
    /// The business code (table in the description of the API).
    #[schema(example = 4000000001u64)]
    pub code: u64,
    /// `null`, or for 4001009999 the order to pay.
    pub data: Option<PendingOrderData>,
    /// What went wrong, for the user.
    #[schema(example = "缺少参数 parent_order_no")]
    pub message: String,
}

/// `data` of an answer that carries nothing: `null`.
pub struct Null;

impl utoipa::PartialSchema for Null {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Null)
            .description(Some("`null`"))
            .into()
    }
}

impl ToSchema for Null {}

/// A refund of the order's payment (`GET /admin/orders/…`).
#[derive(ToSchema)]
pub struct AdminRefund {
    /// `refundOrderId`: `parent_order_no` + 2 digits of the attempt.
    pub refund_order_id: String,
    /// Which attempt.
    pub attempt: u32,
    /// Fen.
    pub amount_fen: u64,
    /// Unix seconds.
    pub requested_at: u64,
}

/// The payment attempt (`GET /admin/orders/…`).
#[derive(ToSchema)]
pub struct AdminPayment {
    /// `payment_way` (110).
    pub payment_way: u32,
    /// Unix seconds.
    pub started_at: u64,
    /// Fen.
    pub amount_fen: u64,
    /// The provider's `prepay_id`, once it answered.
    pub prepay_id: Option<String>,
    /// WeChat's transaction id, once paid.
    pub target_order_id: Option<String>,
    /// A refund asked, if any.
    pub refund: Option<AdminRefund>,
}

/// One thing that happened to the order.
#[derive(ToSchema)]
pub struct AdminHistoryEntry {
    /// Unix milliseconds.
    #[schema(example = 1747279526123_u64)]
    pub at_ms: u64,
    /// `YYYY-MM-DD HH:MM:SS`, UTC+8.
    #[schema(example = "2025-05-15 11:25:26")]
    pub time: String,
    /// `creating`, `created`, `create_failed`, `payment_started`, `prepay_received`,
    /// `provider_reported`, `paid`, `closed_expired`, `closed_cancelled`,
    /// `refund_requested`, `refunded`, `refund_refused`, `notice_queued`, `notice_delivered`.
    #[schema(example = "payment_started")]
    pub event: String,
    /// Details (prepay id, how the provider reported, the refund id, …); may be empty.
    #[schema(example = "payment_way 110, 1 fen")]
    pub detail: String,
}

/// `data` of `GET /admin/orders/{parent_order_no}`.
#[derive(ToSchema)]
pub struct AdminOrderData {
    /// The order.
    pub parent_order_no: String,
    /// The child order.
    pub order_no: String,
    /// Internal status: `creating`, `unpaid`, `paid`, `closed`, `refunded`, `abandoned`,
    /// `refund_refused`.
    pub status: String,
    /// Owner.
    pub company_id: u64,
    /// Owner.
    pub member_id: u64,
    /// `business_type`.
    pub business_type: u16,
    /// Fen.
    pub total_fee_fen: u64,
    /// Unix seconds.
    pub c_time: u64,
    /// Unix seconds of the deadline.
    pub expire_time: u64,
    /// Unix seconds (0 until paid).
    pub payment_time: u64,
    /// The payment attempt, if one was started.
    pub payment: Option<AdminPayment>,
    /// What the member's `shop/order/detail` answers.
    pub detail: DetailData,
    /// Oldest first.
    pub history: Vec<AdminHistoryEntry>,
}

/// `data` of `POST /admin/backup`.
#[derive(ToSchema)]
pub struct BackupData {
    /// The copy's directory (a store: start with `--data-dir` there to restore).
    pub to: String,
    /// Trees copied.
    pub trees: u64,
    /// Keys in the copy.
    pub keys: u64,
    /// Bytes of keys and values in the copy.
    pub bytes: u64,
    /// Keys the catching-up pass wrote or removed.
    pub caught_up: u64,
    /// First pass, while writes went on (ms).
    pub copy_ms: u64,
    /// How long writes waited for the catching-up pass (ms).
    pub paused_writes_ms: u64,
    /// The durable mark of the last change in the copy.
    pub durable_mark: u64,
}

/// One order that disagrees with the provider.
#[derive(ToSchema)]
pub struct ReconcileFinding {
    /// The order.
    pub parent_order_no: String,
    /// `charged_not_paid_here`, `paid_here_not_at_provider`, `refunded_at_provider_only`,
    /// `refunded_here_only`.
    pub mismatch: String,
    /// Our status before (`unpaid`, `closed`, `paid`, …).
    pub ours: String,
    /// The provider's query `status` (`TRADE_SUCCESS`, …, or `NO_ORDER`).
    pub provider: String,
    /// Fen.
    pub amount_fen: u64,
    /// With `fix=1`: what was done (`settled: paid`, `settled: refunded`, `needs a person …`).
    pub fix: Option<String>,
}

/// `data` of `POST /admin/reconcile`.
#[derive(ToSchema)]
pub struct ReconcileData {
    /// Window start (Unix s).
    pub since: u64,
    /// Window end (Unix s, exclusive).
    pub until: u64,
    /// Orders with a payment attempt in the window.
    pub checked: u64,
    /// Orders the provider could not be asked about (ask again later).
    pub unanswered: Vec<String>,
    /// The mismatches, by order number.
    pub findings: Vec<ReconcileFinding>,
}
