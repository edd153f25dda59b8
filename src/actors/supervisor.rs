//! The supervisor: a router and registry (parent_order_no → the order's actor), not an
//! `actix::Supervisor` — order actors stop on purpose when their order is final, and are
//! activated again from the store when a message arrives for them.

use std::sync::Arc;

use actix::dev::channel::{self, AddressReceiver};
use actix::prelude::*;

use super::order::{OrderActor, Peers, Stopped};
use super::poller::TradePoller;
use super::{Live, Published, Snapshot};
use crate::domain::{Command, Order, OrderNo, OrderStatus};
use crate::workflow::{OrderError, SharedEnv};

/// The capacity of a mailbox made before its actor starts: actix's default, as
/// `start_in_arbiter` makes it (the actor sets its own when it starts).
const DEFAULT_CAPACITY: usize = 16;

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
/// hop through the supervisor's thread) and registers it in `registry` right away, without
/// a message to the supervisor (which woke the supervisor's thread on every create: 9 % of
/// a create's CPU on the two threads). It is registered before anyone can learn the
/// order's number (that happens once it is bound, after this), and before the actor runs
/// (it cannot stop and unregister first), so the supervisor never activates a second actor
/// for it.
pub fn start_here(
    order: Order,
    env: SharedEnv,
    peers: &Arc<Peers>,
    registry: &Published,
) -> Addr<OrderActor> {
    let incarnation = OrderActor::next_incarnation();
    let parent_order_no = order.parent_order_no.clone();
    let order = Arc::new(order);
    let snapshot: Snapshot = Arc::new(parking_lot::RwLock::new(order.clone()));
    let actor = OrderActor::new(
        order,
        false,
        env,
        peers.clone(),
        incarnation,
        snapshot.clone(),
    )
    .start();
    registry.insert(
        &parent_order_no,
        Live {
            incarnation,
            actor: actor.clone(),
            snapshot,
        },
    );
    actor
}

/// Routes messages to order actors, starting them round-robin on the arbiters.
pub struct Supervisor {
    /// The live actors (the supervisor is the only one to change it).
    published: Published,
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: usize,
    env: SharedEnv,
    poller: Addr<TradePoller>,
    /// What the actors started here share, made once the supervisor has an address.
    peers: Option<Arc<Peers>>,
}

impl Supervisor {
    /// A supervisor spreading order actors over `arbiters`, registering them in
    /// `published`.
    pub fn new(
        env: SharedEnv,
        poller: Addr<TradePoller>,
        arbiters: Vec<ArbiterHandle>,
        published: Published,
    ) -> Self {
        Self {
            published,
            arbiters,
            next_arbiter: 0,
            env,
            poller,
            peers: None,
        }
    }

    fn peers(&mut self, ctx: &mut Context<Self>) -> Arc<Peers> {
        let poller = &self.poller;
        self.peers
            .get_or_insert_with(|| {
                Arc::new(Peers {
                    supervisor: ctx.address().recipient(),
                    poller: poller.clone(),
                })
            })
            .clone()
    }

    /// The arbiter the next actor goes to (round-robin), if there are any.
    fn next_arbiter(&mut self) -> Option<ArbiterHandle> {
        let arbiter = self
            .arbiters
            .get(self.next_arbiter % self.arbiters.len().max(1))
            .cloned();
        self.next_arbiter = self.next_arbiter.wrapping_add(1);
        arbiter
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
    }
}

/// An actor for an order read from the store, with what its registration needs.
fn on_disk_actor(
    order: Order,
    env: SharedEnv,
    peers: Arc<Peers>,
) -> (OrderNo, OrderActor, u64, Snapshot) {
    let key = order.parent_order_no.clone();
    let incarnation = OrderActor::next_incarnation();
    let order = Arc::new(order);
    let snapshot: Snapshot = Arc::new(parking_lot::RwLock::new(order.clone()));
    let actor = OrderActor::new(order, true, env, peers, incarnation, snapshot.clone());
    (key, actor, incarnation, snapshot)
}

impl Supervisor {
    /// Starts an actor for `order`, read from the store, on the next arbiter and registers
    /// it.
    fn start_actor(&mut self, order: Order, ctx: &mut Context<Self>) -> Addr<OrderActor> {
        let peers = self.peers(ctx);
        let (key, actor, incarnation, snapshot) = on_disk_actor(order, self.env.clone(), peers);
        let addr = match self.next_arbiter() {
            Some(arbiter) => OrderActor::start_in_arbiter(&arbiter, move |_| actor),
            None => actor.start(),
        };
        let live = Live {
            incarnation,
            actor: addr.clone(),
            snapshot,
        };
        self.published.insert(&key, live);
        addr
    }
}

impl Handler<Recover> for Supervisor {
    type Result = MessageResult<Recover>;

    /// Starts the page's actors with one message per arbiter (not one per actor: each woke
    /// the arbiter's thread, 6 % of a recovery's time) and registers them under one lock.
    fn handle(&mut self, msg: Recover, ctx: &mut Context<Self>) -> Self::Result {
        let mut report = RecoveryReport::default();
        let peers = self.peers(ctx);
        let lanes = self.arbiters.len().max(1);
        let mut batches: Vec<Vec<(AddressReceiver<OrderActor>, OrderActor)>> =
            (0..lanes).map(|_| Vec::new()).collect();
        let mut started = Vec::with_capacity(msg.orders.len());
        for order in msg.orders {
            if self.published.actor(&order.parent_order_no).is_some() {
                continue;
            }
            let creating = order.status == OrderStatus::Creating;
            let (key, actor, incarnation, snapshot) =
                on_disk_actor(order, self.env.clone(), peers.clone());
            // What `start_in_arbiter` does, for a batch: the mailbox is made here, so the
            // address exists (and takes messages) before the actor runs.
            let (tx, rx) = channel::channel(DEFAULT_CAPACITY);
            let addr = Addr::new(tx);
            batches[self.next_arbiter % lanes].push((rx, actor));
            self.next_arbiter = self.next_arbiter.wrapping_add(1);
            if creating {
                report.creating += 1;
                addr.do_send(Command::FinishCreate);
            } else {
                report.unpaid += 1;
            }
            let live = Live {
                incarnation,
                actor: addr,
                snapshot,
            };
            started.push((key, live));
        }
        for (lane, batch) in batches.into_iter().enumerate() {
            if batch.is_empty() {
                continue;
            }
            let start_all = move || {
                for (rx, actor) in batch {
                    Context::with_receiver(rx).run(actor);
                }
            };
            match self.arbiters.get(lane) {
                Some(arbiter) => {
                    arbiter.spawn_fn(start_all);
                }
                None => start_all(),
            }
        }
        self.published.insert_all(started);
        MessageResult(report)
    }
}

impl Handler<Activate> for Supervisor {
    /// Atomic: no other actor for the order can be started while its record is read.
    type Result = AtomicResponse<Self, Result<Routed, OrderError>>;

    fn handle(&mut self, msg: Activate, _ctx: &mut Context<Self>) -> Self::Result {
        if let Some(addr) = self.published.actor(&msg.parent_order_no) {
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
        self.published.remove(&msg.parent_order_no, msg.incarnation);
    }
}

impl Handler<CountLive> for Supervisor {
    type Result = usize;

    fn handle(&mut self, _msg: CountLive, _ctx: &mut Context<Self>) -> usize {
        self.published.len()
    }
}
