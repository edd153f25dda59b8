//! The member fixture: one member of the seed's company calling the order center as the
//! mini-program does. Each call fills the caller's fields; the plain name asserts success
//! and returns the typed answer, `try_` returns the [`Reply`] for tests about refusals.

use std::time::Duration;

use super::{
    apply_form, caller_form, create_form, eventually, order_form, pay_form, Applied, ApplyRecord,
    Form, Order, Payment, Registration, Reply, State, Status, TestApp, COMPANY,
};

/// How long a registration may take to follow a payment (the outbox tells the platform).
const REGISTRATION_WITHIN: Duration = Duration::from_secs(5);
/// How long a payment the buyer made may take to reach the order (notify or query).
const PAID_WITHIN: Duration = Duration::from_secs(10);

/// One member of the seed's company (see [`TestApp::member`]).
#[derive(Clone, Copy)]
pub struct Member<'a> {
    app: &'a TestApp,
    /// `member_id`.
    pub id: u64,
}

/// Anything that names an order: a created [`Order`] or a `parent_order_no` as text (for
/// orders that are someone else's or nobody's).
pub trait ParentOrderNo {
    /// The `parent_order_no` to send.
    fn parent_order_no(&self) -> &str;
}

impl ParentOrderNo for Order {
    fn parent_order_no(&self) -> &str {
        &self.parent_order_no
    }
}

impl ParentOrderNo for str {
    fn parent_order_no(&self) -> &str {
        self
    }
}

impl ParentOrderNo for String {
    fn parent_order_no(&self) -> &str {
        self
    }
}

impl<'a> Member<'a> {
    pub(super) fn new(app: &'a TestApp, id: u64) -> Self {
        Member { app, id }
    }

    /// The app this member calls.
    pub fn app(&self) -> &'a TestApp {
        self.app
    }

    /// The caller's fields (`company_id`, `member_id`, `business_id`) followed by `extra`:
    /// for requests no other helper sends.
    pub fn form(&self, extra: &[(&'static str, String)]) -> Form {
        let mut form = caller_form(self.id);
        form.extend_from_slice(extra);
        form
    }

    /// POSTs `path` with the caller's fields and `extra`.
    pub async fn post(&self, path: &str, extra: &[(&'static str, String)]) -> Reply {
        self.app.post_form(path, &self.form(extra)).await
    }

    /// Applies for `activity_id` with the seed's name and phone.
    pub async fn try_apply(&self, activity_id: u64) -> Reply {
        let form = apply_form(self.id, activity_id);
        self.app
            .post_form("/activityPlatform/wxActivity/apply", &form)
            .await
    }

    /// Applies for `activity_id` with `waitlist=1`: a full activity puts the member on its
    /// waitlist.
    pub async fn try_apply_or_wait(&self, activity_id: u64) -> Reply {
        let mut form = apply_form(self.id, activity_id);
        form.push(("waitlist", "1".into()));
        self.app
            .post_form("/activityPlatform/wxActivity/apply", &form)
            .await
    }

    /// Applies for `activity_id` or joins its waitlist when it is full.
    pub async fn apply_or_wait(&self, activity_id: u64) -> Applied {
        self.try_apply_or_wait(activity_id).await.ok_as()
    }

    /// `wxActivity/cancelApply` of this member's apply.
    pub async fn try_cancel_apply(&self, apply_id: u64) -> Reply {
        self.post(
            "/activityPlatform/wxActivity/cancelApply",
            &[("apply_id", apply_id.to_string())],
        )
        .await
    }

    /// Applies for `activity_id`; the apply holds a seat.
    pub async fn apply(&self, activity_id: u64) -> Applied {
        self.try_apply(activity_id).await.ok_as()
    }

    /// The seed's `shop/order/create` for `sku_slice`.
    pub async fn try_create_order(&self, sku_slice: &str) -> Reply {
        let form = create_form(self.id, sku_slice);
        self.app.post_form("/shop/order/create", &form).await
    }

    /// Orders what `applied` holds.
    pub async fn create_order(&self, applied: &Applied) -> Order {
        self.try_create_order(&applied.sku_slice).await.ok_as()
    }

    /// Applies for `activity_id` and orders it.
    pub async fn order(&self, activity_id: u64) -> Order {
        let applied = self.apply(activity_id).await;
        self.create_order(&applied).await
    }

    /// The seed's `shop/order/pay` (WeChat through UMS).
    pub async fn try_pay(&self, order: &(impl ParentOrderNo + ?Sized)) -> Reply {
        let form = pay_form(self.id, order.parent_order_no());
        self.app.post_form("/shop/order/pay", &form).await
    }

    /// Starts paying `order`.
    pub async fn pay(&self, order: &(impl ParentOrderNo + ?Sized)) -> Payment {
        self.try_pay(order).await.ok_as()
    }

    /// Applies for `activity_id`, orders it, pays, and has the simulated buyer pay; returns
    /// once the order is paid.
    pub async fn paid_order(&self, activity_id: u64) -> (Applied, Order) {
        let applied = self.apply(activity_id).await;
        let order = self.create_order(&applied).await;
        self.pay(&order).await;
        assert_eq!(self.app.buyer_pays(&order.parent_order_no).await, 200);
        self.wait_status(&order, Status::Paid, PAID_WITHIN).await;
        (applied, order)
    }

    /// `shop/order/refund` of `order` with `reason`.
    pub async fn try_refund(&self, order: &(impl ParentOrderNo + ?Sized), reason: &str) -> Reply {
        let mut form = order_form(self.id, order.parent_order_no());
        form.push(("reason", reason.into()));
        self.app.post_form("/shop/order/refund", &form).await
    }

    /// Asks for a refund of `order`; returns its state once the refund is recorded.
    pub async fn refund(&self, order: &(impl ParentOrderNo + ?Sized)) -> State {
        self.try_refund(order, "行程有变").await.ok_as()
    }

    /// `shop/order/state` of `order`.
    pub async fn try_state(&self, order: &(impl ParentOrderNo + ?Sized)) -> Reply {
        let form = order_form(self.id, order.parent_order_no());
        self.app.post_form("/shop/order/state", &form).await
    }

    /// The state of `order` as this member sees it.
    pub async fn state(&self, order: &(impl ParentOrderNo + ?Sized)) -> State {
        self.try_state(order).await.ok_as()
    }

    /// `shop/order/cancel` of `order`.
    pub async fn try_cancel(&self, order: &(impl ParentOrderNo + ?Sized)) -> Reply {
        let form = order_form(self.id, order.parent_order_no());
        self.app.post_form("/shop/order/cancel", &form).await
    }

    /// Cancels `order`; returns its state after.
    pub async fn cancel(&self, order: &(impl ParentOrderNo + ?Sized)) -> State {
        self.try_cancel(order).await.ok_as()
    }

    /// `shop/order/detail` of `order`.
    pub async fn try_detail(&self, order: &(impl ParentOrderNo + ?Sized)) -> Reply {
        let form = order_form(self.id, order.parent_order_no());
        self.app.post_form("/shop/order/detail", &form).await
    }

    /// The order as it is now.
    pub async fn detail(&self, order: &(impl ParentOrderNo + ?Sized)) -> Order {
        self.try_detail(order).await.ok_as()
    }

    /// Polls the state of `order` until it is `wanted`.
    pub async fn wait_status(
        &self,
        order: &(impl ParentOrderNo + ?Sized),
        wanted: Status,
        within: Duration,
    ) -> State {
        eventually(within, &format!("{wanted:?}"), || async {
            let state = self.state(order).await;
            (state.status == wanted).then_some(state)
        })
        .await
    }

    /// `wxActivity/applyInfo` of this member's apply.
    pub async fn apply_record(&self, apply_id: u64) -> ApplyRecord {
        self.app
            .get(
                "/activityPlatform/wxActivity/applyInfo",
                &[
                    ("apply_id", apply_id.to_string()),
                    ("member_id", self.id.to_string()),
                    ("company_id", COMPANY.to_string()),
                ],
            )
            .await
            .ok_as()
    }

    /// Waits until this member's apply is registered (paid, and the platform told).
    pub async fn wait_registered(&self, apply_id: u64) {
        eventually(REGISTRATION_WITHIN, "registered", || async {
            let record = self.apply_record(apply_id).await;
            (record.status == Registration::Registered).then_some(())
        })
        .await;
    }
}
