//! Seeds a data dir with ORDERS live (unpaid) orders that all share one deadline, for the
//! shared-deadline expiry benchmark (`bench/shared_deadline.sh`): loadgen creates ~10 k
//! orders a second and deadlines are whole seconds, so it cannot put 100 000 on one deadline.
//!
//! ```sh
//! cargo run --release --example seed_orders -- DATA_DIR ORDERS DEADLINE_UNIX_SECS [TTL_SECS]
//! ```
//!
//! Each order is made the way the in-process create makes it — an activity with a seat per
//! order, one apply per member, the apply bound and the *created* order written in one
//! atomic change — except that its creation time is set so that its deadline is the one
//! given. The server then recovers the orders (actor and timer each) and expires them.

use std::process::ExitCode;

use futures::future::join_all;
use ordercenter::activity::{ActivityService, ApplyCommand, NewActivity, OrderBinding};
use ordercenter::domain::order::CreateRequest;
use ordercenter::domain::{
    time, Fen, MemberRef, Order, OrderEvent, OrderExtra, OrderNo, OrderNoGenerator, OrderStatus,
    SkuSlice,
};
use ordercenter::store::activity::ActivityStore;
use ordercenter::store::orders::{OrderStore, OrderWrite};
use ordercenter::store::{Change, Store, StoreConfig};
use ordercenter::workflow::create::fill_from_answer;

const COMPANY: u64 = 421;
const BUSINESS_ID: u64 = 10_000_001;
const PARENT_PREFIX: u16 = 2013;
const BUSINESS_TYPE: u16 = 3001;
/// Orders bound and written per store change batch.
const CHUNK: usize = 1000;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (
        args.first().cloned(),
        args.get(1).and_then(|v| v.parse::<u64>().ok()),
        args.get(2).and_then(|v| v.parse::<u64>().ok()),
        args.get(3).map_or(Some(480), |v| v.parse::<u64>().ok()),
    );
    let (Some(dir), Some(orders), Some(deadline), Some(ttl)) = parsed else {
        eprintln!("usage: seed_orders DATA_DIR ORDERS DEADLINE_UNIX_SECS [TTL_SECS]");
        return ExitCode::from(2);
    };
    match seed(dir, orders, deadline, ttl).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("seed_orders: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn seed(
    dir: String,
    count: u64,
    deadline: u64,
    ttl: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let config = StoreConfig {
        data_dir: dir.into(),
        cache_capacity: 256 << 20,
        disk_reserve_bytes: ordercenter::store::DEFAULT_DISK_RESERVE_BYTES,
    };
    let store = tokio::task::spawn_blocking(move || Store::open(&config)).await??;
    let opened = store.clone();
    let (orders, activities) = tokio::task::spawn_blocking(move || {
        Ok::<_, ordercenter::store::StoreError>((
            OrderStore::open(&opened)?,
            ActivityStore::open(&opened)?,
        ))
    })
    .await??;
    let platform = ActivityService::new(activities, ttl);
    let activity = platform
        .save(NewActivity {
            name: "共享截止".into(),
            price: Fen(1),
            seats: u32::try_from(count)?,
            start_time: 0,
            end_time: 0,
            per_member_limit: 1,
            stadium_name: "基准场馆".into(),
            refund_deadline: None,
        })
        .await?
        .activity;

    let members: Vec<u64> = (1..=count).collect();
    let mut applies = Vec::with_capacity(members.len());
    for chunk in members.chunks(CHUNK) {
        let made = join_all(chunk.iter().map(|&member_id| {
            platform.apply(ApplyCommand {
                owner: MemberRef {
                    company_id: COMPANY,
                    member_id,
                },
                business_id: BUSINESS_ID,
                activity_id: activity.id,
                name: "基准".into(),
                phone: "13800000000".into(),
                apply_info: "{}".into(),
                waitlist: false,
            })
        }))
        .await;
        for outcome in made {
            let apply = outcome?.apply;
            applies.push((apply.owner, apply.id));
        }
    }

    let high = {
        let orders = orders.clone();
        tokio::task::spawn_blocking(move || orders.order_no_high()).await??
    };
    let mut numbers = OrderNoGenerator::new(time::now_millis(), high);
    let c_time = deadline.saturating_sub(ttl);
    for chunk in applies.chunks(CHUNK) {
        let mut batch = Vec::with_capacity(chunk.len());
        for &(owner, apply_id) in chunk {
            let body = loop {
                match numbers.next_body(time::now_millis()) {
                    Ok(body) => break body,
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
                }
            };
            batch.push(new_order(owner, apply_id, body, c_time, ttl, &orders)?);
        }
        let (orders, platform) = (orders.clone(), platform.clone());
        store
            .write(move || {
                for order in batch {
                    write_created(&orders, &platform, order)?;
                }
                Ok(())
            })
            .await?;
    }
    tokio::task::spawn_blocking(move || store.close()).await??;
    println!("seeded {count} unpaid orders with deadline {deadline}");
    Ok(())
}

fn new_order(
    owner: MemberRef,
    apply_id: u64,
    body: u64,
    c_time: u64,
    ttl: u64,
    orders: &OrderStore,
) -> Result<Order, Box<dyn std::error::Error>> {
    let sku_slice = SkuSlice::parse(&format!("{apply_id}:1"))?;
    Ok(Order {
        id: orders.next_row_ids(2),
        parent_order_no: OrderNo::compose(PARENT_PREFIX, body),
        order_no: OrderNo::compose(BUSINESS_TYPE, body),
        request: CreateRequest {
            owner,
            business_id: BUSINESS_ID,
            sys_id: 30,
            business_type: BUSINESS_TYPE,
            sku_slice,
            request_id: "seed".into(),
            handle_info: "{}".into(),
            order_from: 2,
            sales_id: 0,
            latitude: None,
            longitude: None,
            city_id: None,
            idempotency_key: None,
        },
        items: Vec::new(),
        extra: OrderExtra::default(),
        status: OrderStatus::Creating,
        c_time,
        u_time: c_time,
        payment_time: 0,
        overdue_secs: ttl,
        payment_way: 0,
        payment: None,
        history: Vec::new(),
    })
}

/// Binds the order's apply and writes the order *created*, in one atomic change (on the
/// store's writer thread, as the in-process create does).
fn write_created(
    orders: &OrderStore,
    platform: &ActivityService,
    mut order: Order,
) -> Result<(), ordercenter::store::StoreError> {
    let corrupt = |what: String| ordercenter::store::StoreError::Corrupt(what);
    let mut change = Change::new();
    let answer = platform
        .bind_order_in_write(
            OrderBinding {
                order_no: order.order_no.clone(),
                parent_order_no: order.parent_order_no.clone(),
                owner: order.request.owner,
                business_id: order.request.business_id,
                sku_slice: order.request.sku_slice.clone(),
            },
            &mut change,
        )
        .map_err(|error| corrupt(error.to_string()))?;
    fill_from_answer(&mut order, answer).map_err(|error| corrupt(error.to_string()))?;
    let created_at = order.c_time;
    order
        .apply(OrderEvent::Created, created_at)
        .map_err(|error| corrupt(error.to_string()))?;
    orders.stage(
        &mut change,
        OrderWrite {
            order: &order,
            notify: None,
            first: true,
        },
    )?;
    orders.store().apply(change)
}
