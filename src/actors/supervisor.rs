//! The supervisor: a router and registry (parent_order_no → the order's actor), not an
//! `actix::Supervisor` — order actors stop on purpose when their order is final, and are
//! activated again from the store when a message arrives for them.

use std::collections::HashMap;

use actix::prelude::*;

use super::order::{OrderActor, Peers, Stopped};
use super::poller::TradePoller;
use super::{Published, Snapshot};
use crate::domain::{Command, Order, OrderNo, OrderStatus};
use crate::workflow::{OrderError, SharedEnv};

/// Start actors for orders just read from the store at startup (a page of them at a time),
/// and finish the creations among them.
#[derive(Message)]
#[rtype(result = "RecoveryReport")]
pub struct Recover {
    /// Orders that need an actor.
    pub orders: Vec<Order>,
}

/// What recovery found and did.
#[derive(Debug, Default, Clone, Copy)]
pub struct RecoveryReport {
    /// Live (unpaid) orders whose actor and timer were restored.
    pub unpaid: usize,
    /// Orders caught mid-creation, being finished or closed.
    pub creating: usize,
}

/// An actor started by its creator on the creator's own thread (see [`start_here`]), to
/// route to from now on.
#[derive(Message)]
#[rtype(result = "()")]
struct Register {
    parent_order_no: OrderNo,
    actor: Addr<OrderActor>,
    incarnation: u64,
    snapshot: Snapshot,
}

/// The order's actor — the live one, or one activated from the store (read after any
/// previous actor of the order stopped, so never from a stale copy). An order that can take
/// no more messages is answered as stored.
#[derive(Message)]
#[rtype(result = "Result<Routed, OrderError>")]
pub struct Activate {
    /// Which order.
    pub parent_order_no: OrderNo,
}

/// Where [`Activate`] routes to.
pub enum Routed {
    /// The order's actor.
    Actor(Addr<OrderActor>),
    /// The order can no longer change ([`Order::takes_messages`]): nothing more can happen
    /// to it.
    Stored(Box<Order>),
}

/// How many order actors are live.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountLive;

/// Starts the actor of a new `order` on the current thread (the HTTP worker creating it: no
/// hop through the supervisor's thread) and registers it with `supervisor`. The
/// registration is queued before anyone can learn the order's number (that happens once it
/// is bound, after this), so the supervisor never activates a second actor for it.
pub fn start_here(
    order: Order,
    env: SharedEnv,
    poller: Addr<TradePoller>,
    supervisor: &Addr<Supervisor>,
) -> Addr<OrderActor> {
    let incarnation = OrderActor::next_incarnation();
    let parent_order_no = order.parent_order_no.clone();
    let order = std::sync::Arc::new(order);
    let snapshot: Snapshot = std::sync::Arc::new(parking_lot::RwLock::new(order.clone()));
    let peers = Peers {
        supervisor: supervisor.clone().recipient(),
        poller,
    };
    let actor = OrderActor::new(order, false, env, peers, incarnation, snapshot.clone()).start();
    supervisor.do_send(Register {
        parent_order_no,
        actor: actor.clone(),
        incarnation,
        snapshot,
    });
    actor
}

/// Routes messages to order actors, starting them round-robin on the arbiters.
pub struct Supervisor {
    live: HashMap<OrderNo, (Addr<OrderActor>, u64)>,
    published: Published,
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: usize,
    env: SharedEnv,
    poller: Addr<TradePoller>,
}

impl Supervisor {
    /// A supervisor spreading order actors over `arbiters`, publishing their snapshots in
    /// `published`.
    pub fn new(
        env: SharedEnv,
        poller: Addr<TradePoller>,
        arbiters: Vec<ArbiterHandle>,
        published: Published,
    ) -> Self {
        Self {
            live: HashMap::new(),
            published,
            arbiters,
            next_arbiter: 0,
            env,
            poller,
        }
    }

    fn live_actor(&self, parent_order_no: &OrderNo) -> Option<Addr<OrderActor>> {
        self.live
            .get(parent_order_no)
            .map(|(addr, _)| addr)
            .filter(|addr| addr.connected())
            .cloned()
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
    }
}

impl Supervisor {
    /// Starts an actor for `order`, read from the store, on the next arbiter and registers
    /// it.
    fn start_actor(&mut self, order: Order, ctx: &mut Context<Self>) -> Addr<OrderActor> {
        let key = order.parent_order_no.clone();
        let incarnation = OrderActor::next_incarnation();
        let env = self.env.clone();
        let peers = Peers {
            supervisor: ctx.address().recipient(),
            poller: self.poller.clone(),
        };
        let order = std::sync::Arc::new(order);
        let snapshot: Snapshot = std::sync::Arc::new(parking_lot::RwLock::new(order.clone()));
        let published = snapshot.clone();
        let addr = match self
            .arbiters
            .get(self.next_arbiter % self.arbiters.len().max(1))
        {
            Some(arbiter) => {
                self.next_arbiter = self.next_arbiter.wrapping_add(1);
                OrderActor::start_in_arbiter(arbiter, move |_| {
                    OrderActor::new(order, true, env, peers, incarnation, published)
                })
            }
            None => OrderActor::new(order, true, env, peers, incarnation, published).start(),
        };
        self.published.insert(key.clone(), incarnation, snapshot);
        self.live.insert(key, (addr.clone(), incarnation));
        addr
    }
}

impl Handler<Recover> for Supervisor {
    type Result = MessageResult<Recover>;

    fn handle(&mut self, msg: Recover, ctx: &mut Context<Self>) -> Self::Result {
        let mut report = RecoveryReport::default();
        for order in msg.orders {
            if self.live_actor(&order.parent_order_no).is_some() {
                continue;
            }
            let creating = order.status == OrderStatus::Creating;
            let actor = self.start_actor(order, ctx);
            if creating {
                report.creating += 1;
                actor.do_send(Command::FinishCreate);
            } else {
                report.unpaid += 1;
            }
        }
        MessageResult(report)
    }
}

impl Handler<Register> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Register, _ctx: &mut Context<Self>) {
        self.published
            .insert(msg.parent_order_no.clone(), msg.incarnation, msg.snapshot);
        self.live
            .insert(msg.parent_order_no, (msg.actor, msg.incarnation));
    }
}

impl Handler<Activate> for Supervisor {
    /// Atomic: no other actor for the order can be started while its record is read.
    type Result = AtomicResponse<Self, Result<Routed, OrderError>>;

    fn handle(&mut self, msg: Activate, _ctx: &mut Context<Self>) -> Self::Result {
        if let Some(addr) = self.live_actor(&msg.parent_order_no) {
            return AtomicResponse::new(Box::pin(fut::ready(Ok(Routed::Actor(addr)))));
        }
        let store = self.env.store.clone();
        AtomicResponse::new(Box::pin(
            async move { store.load(msg.parent_order_no).await }
                .into_actor(self)
                .map(|loaded, supervisor, ctx| {
                    let order = loaded?.ok_or(OrderError::NotFound)?;
                    if order.takes_messages() {
                        Ok(Routed::Actor(supervisor.start_actor(order, ctx)))
                    } else {
                        Ok(Routed::Stored(Box::new(order)))
                    }
                }),
        ))
    }
}

impl Handler<Stopped> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Stopped, _ctx: &mut Context<Self>) {
        if self
            .live
            .get(&msg.parent_order_no)
            .is_some_and(|(_, incarnation)| *incarnation == msg.incarnation)
        {
            self.live.remove(&msg.parent_order_no);
        }
        self.published.remove(&msg.parent_order_no, msg.incarnation);
    }
}

impl Handler<CountLive> for Supervisor {
    type Result = usize;

    fn handle(&mut self, _msg: CountLive, _ctx: &mut Context<Self>) -> usize {
        self.live.len()
    }
}
