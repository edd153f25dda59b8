//! The expiry timers of the order actors: one timer per thread for all the actors running
//! on it, instead of one `Sleep` per actor.
//!
//! An actor arms its expiry by registering its weak address under its deadline; the
//! thread's timer task sleeps until the earliest deadline registered and then tells every
//! actor under it [`Command::Expire`]. Deadlines are whole seconds
//! ([`crate::domain::Order::deadline`]), so the orders created within one second share one
//! entry: a live order costs a weak address here (8 bytes) where a boxed `Sleep` in its
//! actix context cost about 140 bytes (BENCHMARKS.md, live orders), and starting an actor
//! at recovery no longer registers a timer with tokio.
//!
//! Nothing is ever cancelled, because nothing needs to be: an `Expire` is decided like any
//! command ([`crate::domain::Order::decide`]) — an order whose deadline has not come is
//! armed again, one that is no longer unpaid is answered and does not change. So a stale
//! entry (its actor stopped, or armed again) is harmless, and the weak address does not
//! keep a stopped actor's mailbox alive.
//!
//! The task lives on the thread's own runtime, like the `Sleep`s it replaces (and like them
//! it reaches `tokio::time::pause()` only on that runtime); it ends with the runtime, and
//! the next arm on the thread starts another.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use actix::WeakAddr;

use super::order::OrderActor;
use crate::domain::{time, Command};

thread_local! {
    static WHEEL: RefCell<Option<Rc<Wheel>>> = const { RefCell::new(None) };
}

/// The deadlines armed on one thread.
#[derive(Default)]
struct Wheel {
    /// Actors to tell at each deadline (Unix milliseconds).
    due: RefCell<BTreeMap<u64, Vec<WeakAddr<OrderActor>>>>,
    /// Wakes the timer task when a deadline earlier than the one it sleeps for is armed.
    earlier: tokio::sync::Notify,
    /// Whether the timer task still runs (false once its runtime dropped it).
    running: Cell<bool>,
}

/// Tells `actor` [`Command::Expire`] at `deadline_ms` (Unix milliseconds; at once if it has
/// passed). Call on the actor's own thread.
pub fn arm(deadline_ms: u64, actor: WeakAddr<OrderActor>) {
    let wheel = WHEEL.with(|slot| {
        let mut slot = slot.borrow_mut();
        match slot.as_ref() {
            Some(wheel) if wheel.running.get() => wheel.clone(),
            _ => {
                let wheel = Rc::new(Wheel::default());
                wheel.running.set(true);
                actix_rt::spawn(run(wheel.clone()));
                *slot = Some(wheel.clone());
                wheel
            }
        }
    });
    let mut due = wheel.due.borrow_mut();
    let earliest = due.keys().next().copied();
    due.entry(deadline_ms).or_default().push(actor);
    if earliest.is_none_or(|first| deadline_ms < first) {
        wheel.earlier.notify_one();
    }
}

/// Marks the wheel stopped when the timer task is dropped.
struct Running(Rc<Wheel>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.set(false);
        self.0.due.borrow_mut().clear();
    }
}

/// The thread's timer task: sleeps until the earliest deadline, then expires every actor
/// registered at or before now.
async fn run(wheel: Rc<Wheel>) {
    let running = Running(wheel);
    let wheel = &running.0;
    loop {
        let next = wheel.due.borrow().keys().next().copied();
        let Some(at_ms) = next else {
            wheel.earlier.notified().await;
            continue;
        };
        let wait = at_ms.saturating_sub(time::now_millis());
        if wait > 0 {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(wait)) => {}
                () = wheel.earlier.notified() => {}
            }
            continue;
        }
        let fired = {
            let mut due = wheel.due.borrow_mut();
            let later = due.split_off(&time::now_millis().saturating_add(1));
            std::mem::replace(&mut *due, later)
        };
        for actor in fired.into_values().flatten() {
            if let Some(actor) = actor.upgrade() {
                actor.do_send(Command::Expire);
            }
        }
    }
}
