//! Reconciliation with the provider (对账): for every order whose payment attempt started in
//! a window, our state beside the provider's query answer, each mismatch reported and, when
//! asked, settled by the message the order center already acts on (a confirmed payment:
//! paid, or refunded when the order closed meanwhile, or settled as refunded when the
//! provider refunded it).

use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;

use super::OrderCenter;
use crate::domain::{EvidenceSource, Order, OrderStatus};
use crate::provider::TradeStatus;
use crate::workflow::OrderError;

/// Provider queries in flight at once (the poller and the workflows keep their own).
const QUERIES_AT_ONCE: usize = 8;
/// Orders read per blocking call.
const PAGE: usize = 4096;
/// Longest a fix is waited for before it is reported as still settling.
const FIX_WAIT: Duration = Duration::from_secs(10);

/// What one side says about the money.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Money {
    /// Not charged (waiting, closed, unknown).
    NotCharged,
    /// Charged.
    Charged,
    /// Charged, then refunded.
    Refunded,
    /// Charged, a refund asked and not yet confirmed (ours only).
    Refunding,
}

/// A kind of mismatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mismatch {
    /// The provider charged the buyer; the order is not paid here (nor being refunded).
    ChargedNotPaidHere,
    /// Paid here; the provider has no such payment.
    PaidHereNotAtProvider,
    /// The provider refunded it; here it is not refunded.
    RefundedAtProviderOnly,
    /// Refunded here; the provider still has the payment.
    RefundedHereOnly,
}

/// One order that disagrees with the provider.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The order.
    pub parent_order_no: String,
    /// What disagrees.
    pub mismatch: Mismatch,
    /// Our status before.
    pub ours: &'static str,
    /// The provider's `status`.
    pub provider: String,
    /// Fen.
    pub amount_fen: u64,
    /// With `fix`: what was done (`settled: paid`, `settled: refunded`, `needs a person`, …).
    pub fix: Option<String>,
}

/// What a reconciliation found.
#[derive(Clone, Debug, Serialize)]
pub struct Reconciliation {
    /// Window start, Unix s (inclusive).
    pub since: u64,
    /// Window end, Unix s (exclusive).
    pub until: u64,
    /// Orders with a payment attempt in the window.
    pub checked: u64,
    /// Orders the provider's query could not be asked about (retry later).
    pub unanswered: Vec<String>,
    /// Mismatches.
    pub findings: Vec<Finding>,
}

fn ours(order: &Order) -> Money {
    match order.status {
        OrderStatus::Paid => Money::Charged,
        OrderStatus::Refunded => Money::Refunded,
        OrderStatus::RefundRefused => Money::Charged,
        _ if order.refund_pending() => Money::Refunding,
        _ => Money::NotCharged,
    }
}

fn theirs(status: &TradeStatus) -> Money {
    match status {
        TradeStatus::TradeSuccess => Money::Charged,
        TradeStatus::TradeRefund => Money::Refunded,
        _ => Money::NotCharged,
    }
}

/// The mismatch between our money and the provider's, if any. A refund under way here
/// agrees with a charge there (it is being followed).
fn compare(ours: Money, theirs: Money) -> Option<Mismatch> {
    use Money as M;
    match (ours, theirs) {
        (M::NotCharged, M::NotCharged)
        | (M::Charged, M::Charged)
        | (M::Refunded, M::Refunded)
        | (M::Refunding, M::Charged | M::Refunded) => None,
        (M::NotCharged, M::Charged) => Some(Mismatch::ChargedNotPaidHere),
        (M::Charged, M::NotCharged) | (M::Refunding | M::Refunded, M::NotCharged) => {
            Some(Mismatch::PaidHereNotAtProvider)
        }
        (M::NotCharged | M::Charged, M::Refunded) => Some(Mismatch::RefundedAtProviderOnly),
        (M::Refunded, M::Charged) => Some(Mismatch::RefundedHereOnly),
        (_, M::Refunding) => None,
    }
}

impl OrderCenter {
    /// Compares every order whose payment attempt started in `[since, until)` with the
    /// provider's query; with `fix`, settles each mismatch the order center has a path for
    /// by confirming the provider's answer, and says which need a person.
    pub async fn reconcile(
        &self,
        since: u64,
        until: u64,
        fix: bool,
    ) -> Result<Reconciliation, OrderError> {
        let mut report = Reconciliation {
            since,
            until,
            checked: 0,
            unanswered: Vec::new(),
            findings: Vec::new(),
        };
        let mut after: Option<Vec<u8>> = None;
        loop {
            let orders = self.env.store.clone();
            let from = after.take();
            let (page, next) = self
                .store()
                .blocking(move || orders.payments_page(since, until, from.as_deref(), PAGE))
                .await?;
            report.checked += page.len() as u64;
            let answers: Vec<_> = futures::stream::iter(page)
                .map(|order| async move {
                    let answer = self
                        .env
                        .provider
                        .query_checked(order.parent_order_no.as_str(), order.total().0)
                        .await;
                    (order, answer)
                })
                .buffer_unordered(QUERIES_AT_ONCE)
                .collect()
                .await;
            for (order, answer) in answers {
                let answer = match answer {
                    Ok(answer) => answer,
                    Err(error) if error.is_no_order() => {
                        if let Some(finding) = self
                            .check(&order, TradeStatus::TradeClosed, None, fix)
                            .await
                        {
                            report.findings.push(finding);
                        }
                        continue;
                    }
                    Err(error) => {
                        tracing::warn!(order_no = %order.parent_order_no, %error, "reconcile: the provider's query failed");
                        report.unanswered.push(order.parent_order_no.to_string());
                        continue;
                    }
                };
                let evidence = answer.evidence(EvidenceSource::Query);
                if let Some(finding) = self.check(&order, answer.status, Some(evidence), fix).await
                {
                    report.findings.push(finding);
                }
            }
            match next {
                Some(key) => after = Some(key),
                None => break,
            }
        }
        report
            .findings
            .sort_by(|a, b| a.parent_order_no.cmp(&b.parent_order_no));
        Ok(report)
    }

    /// One order beside the provider's `status`; with `fix`, the confirmation that settles
    /// it, if there is one.
    async fn check(
        &self,
        order: &Order,
        status: TradeStatus,
        evidence: Option<crate::domain::PaidEvidence>,
        fix: bool,
    ) -> Option<Finding> {
        let mismatch = compare(ours(order), theirs(&status))?;
        let mut finding = Finding {
            parent_order_no: order.parent_order_no.to_string(),
            mismatch,
            ours: order.status.name(),
            provider: if evidence.is_some() {
                status.as_str().to_owned()
            } else {
                "NO_ORDER".to_owned()
            },
            amount_fen: order.total().0,
            fix: None,
        };
        tracing::warn!(order_no = %order.parent_order_no, ?mismatch, provider = %finding.provider, "reconcile: mismatch with the provider");
        if !fix {
            return Some(finding);
        }
        let fixable = matches!(
            (mismatch, order.status),
            (
                Mismatch::ChargedNotPaidHere,
                OrderStatus::Unpaid | OrderStatus::Closed
            ) | (
                Mismatch::RefundedAtProviderOnly,
                OrderStatus::Unpaid | OrderStatus::Closed
            )
        );
        finding.fix = Some(match (fixable, evidence) {
            (true, Some(evidence)) => self.settle(order, evidence).await,
            _ => "needs a person (no automatic path)".to_owned(),
        });
        Some(finding)
    }

    /// Confirms the provider's answer, as its notify or the poller would, and waits (a
    /// while) for the order to settle; says where it ended.
    async fn settle(&self, order: &Order, evidence: crate::domain::PaidEvidence) -> String {
        let parent = order.parent_order_no.clone();
        if let Err(error) = self.confirm_payment(parent.clone(), evidence).await {
            return format!("not settled: {error}");
        }
        let started = std::time::Instant::now();
        loop {
            let now = self.env.store.load(parent.clone()).await.ok().flatten();
            match now.map(|order| order.status) {
                Some(OrderStatus::Paid) => return "settled: paid".to_owned(),
                Some(OrderStatus::Refunded) => return "settled: refunded".to_owned(),
                Some(OrderStatus::RefundRefused) => {
                    return "refund refused: needs a person".to_owned()
                }
                _ if started.elapsed() > FIX_WAIT => {
                    return "confirmed; refund still settling".to_owned()
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{compare, Mismatch, Money as M};

    #[test]
    fn each_side_disagreeing_is_named_and_a_refund_under_way_is_not_a_mismatch() {
        assert_eq!(compare(M::NotCharged, M::NotCharged), None);
        assert_eq!(compare(M::Charged, M::Charged), None);
        assert_eq!(compare(M::Refunded, M::Refunded), None);
        assert_eq!(compare(M::Refunding, M::Charged), None);
        assert_eq!(compare(M::Refunding, M::Refunded), None);
        assert_eq!(
            compare(M::NotCharged, M::Charged),
            Some(Mismatch::ChargedNotPaidHere)
        );
        assert_eq!(
            compare(M::Charged, M::NotCharged),
            Some(Mismatch::PaidHereNotAtProvider)
        );
        assert_eq!(
            compare(M::Refunded, M::NotCharged),
            Some(Mismatch::PaidHereNotAtProvider)
        );
        assert_eq!(
            compare(M::Charged, M::Refunded),
            Some(Mismatch::RefundedAtProviderOnly)
        );
        assert_eq!(
            compare(M::NotCharged, M::Refunded),
            Some(Mismatch::RefundedAtProviderOnly)
        );
        assert_eq!(
            compare(M::Refunded, M::Charged),
            Some(Mismatch::RefundedHereOnly)
        );
    }
}
