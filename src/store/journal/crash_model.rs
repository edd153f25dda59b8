//! The journal checked against a model under random crashes and restarts.
//!
//! What it models: a process that dies at an arbitrary moment while several writers hand
//! multi-key [`Change`]s to the store, then starts again on the same data dir. Each run of
//! the store is a child process (this test binary, re-run in child mode) that opens the
//! store with [`Store::open`] (which replays the journal), reports every key it finds, then
//! writes random changes through [`Store::write`] and [`Store::apply`], as the order actors
//! do, from up to six writers at once. The parent kills it with SIGKILL after a random number
//! of acknowledgements, or at a random moment from its start (possibly while it is still
//! opening and replaying, the very first start while it creates the store too). Sometimes one change carries the crash point between its journal
//! record and its keys, which flushes and aborts there: the record alone is on disk.
//!
//! A SIGKILL keeps whatever the process had handed to the kernel and loses what sled still
//! buffered, so this covers process crashes, not power cuts: nothing here reorders, tears or
//! drops writes the kernel accepted (that needs a fault-injecting filesystem).
//!
//! The model is a `BTreeMap` of (tree, key) → the change and op that wrote it. The child
//! reports each change on the writer thread just before applying it (the order the writer
//! applies them in) and each acknowledgement after `Store::write` returned. After a crash,
//! the next start must open (its witness is never ahead of it), hold no journal record after
//! the trim mark and no damaged value, and show exactly the model after some prefix of the
//! applied changes: no shorter than the last acknowledged one (acknowledged means durable),
//! and never a change in part. After the crash point fired, the prefix ends exactly with its change (replayed
//! whole from its record).

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde::{Deserialize, Serialize};

use super::{records_after_mark, JOURNAL_TREE};
use crate::store::{Change, Store, StoreConfig};

/// Set in a child: the plan file it runs.
const PLAN_VAR: &str = "ORDERCENTER_JOURNAL_MODEL_PLAN";
/// The crash point a planned torn change carries.
const TORN_POINT: &str = "journal-model.torn";
/// Marks the child's report lines among whatever else the test harness prints.
const REPORT: &str = "journal-model";
/// Trees and keys per tree the changes touch: few, so changes overlap.
const TREES: u8 = 3;
const KEYS: u8 = 8;
/// Longest a child may run before the test gives up on it.
const CHILD_LIMIT: Duration = Duration::from_secs(30);
/// How a child ends: killed by the parent, or aborted at [`TORN_POINT`] (Linux numbers).
const SIGKILL: i32 = 9;
const SIGABRT: i32 = 6;

/// One key to set (with a value of `len` filler bytes) or remove (`len` is `None`).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Op {
    tree: u8,
    key: u8,
    len: Option<u32>,
}

/// A change as planned: its id (unique across the whole scenario) and its keys.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Planned {
    id: u64,
    ops: Vec<Op>,
}

/// What one child does.
#[derive(Debug, Serialize, Deserialize)]
struct Plan {
    data_dir: PathBuf,
    changes: Vec<Planned>,
    /// Changes handed to the store at once.
    writers: usize,
    /// The change that carries [`TORN_POINT`].
    torn: Option<u64>,
}

/// When the parent kills a child.
#[derive(Clone, Copy, Debug)]
enum Kill {
    /// Once it has reported what it found and this many acknowledgements.
    AfterAcks(usize),
    /// This long after it was started, whatever it is doing.
    AfterMillis(u64),
}

/// One run of the store between two crashes, as generated.
#[derive(Clone, Debug)]
struct Round {
    changes: Vec<Vec<Op>>,
    writers: usize,
    kill: Kill,
    /// Which change (an index into `changes`) carries the crash point.
    torn: Option<prop::sample::Index>,
}

/// What a key holds: the change and op that wrote it, and the filler length.
type Written = (u64, u8, u32);
/// The keys of every tree.
type Model = BTreeMap<(u8, u8), Written>;

/// What a child found at its start.
#[derive(Debug, Serialize, Deserialize)]
struct Found {
    entries: Vec<((u8, u8), Written)>,
    /// Keys or values that are not what any op writes.
    damaged: Vec<String>,
    journal_records: usize,
}

/// The bytes op `op` of change `id` writes: a header naming them and `len` filler bytes.
fn value_bytes(id: u64, op: u8, len: u32) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(13 + len as usize);
    bytes.extend(id.to_be_bytes());
    bytes.push(op);
    bytes.extend(len.to_be_bytes());
    bytes.extend((0..len).map(|i| (id as u32).wrapping_add(i) as u8));
    bytes
}

/// The inverse of [`value_bytes`]; `None` for bytes no op writes.
fn read_value(bytes: &[u8]) -> Option<Written> {
    let id = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
    let op = *bytes.get(8)?;
    let len = u32::from_be_bytes(bytes.get(9..13)?.try_into().ok()?);
    (value_bytes(id, op, len) == bytes).then_some((id, op, len))
}

fn tree_name(tree: u8) -> String {
    format!("journal-model-{tree}")
}

fn apply_to(model: &mut Model, change: &Planned) {
    for (index, op) in change.ops.iter().enumerate() {
        match op.len {
            Some(len) => model.insert((op.tree, op.key), (change.id, index as u8, len)),
            None => model.remove(&(op.tree, op.key)),
        };
    }
}

fn op() -> impl Strategy<Value = Op> {
    let len = prop_oneof![
        3 => (1u32..64).prop_map(Some),
        // Large values make sled roll its log buffers and segments mid-change.
        1 => (1024u32..24 * 1024).prop_map(Some),
        2 => Just(None),
    ];
    (0..TREES, 0..KEYS, len).prop_map(|(tree, key, len)| Op { tree, key, len })
}

fn round() -> impl Strategy<Value = Round> {
    let kill = prop_oneof![
        4 => (0usize..32).prop_map(Kill::AfterAcks),
        1 => (0u64..60).prop_map(Kill::AfterMillis),
    ];
    (
        proptest::collection::vec(proptest::collection::vec(op(), 1..=5), 0..32),
        1usize..=6,
        kill,
        proptest::option::weighted(0.25, any::<prop::sample::Index>()),
    )
        .prop_map(|(changes, writers, kill, torn)| Round {
            changes,
            writers,
            kill,
            torn,
        })
}

/// Runs the child side when [`PLAN_VAR`] is set; otherwise checks random scenarios of one to
/// three crashed runs and a last start that only reports.
#[test]
fn acknowledged_changes_survive_random_crashes_whole_and_nothing_half_applied_appears() {
    if let Ok(plan) = std::env::var(PLAN_VAR) {
        run_child(Path::new(&plan));
    }
    // Each case starts up to four processes: a few cases keep it to seconds.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 64,
        ..Config::default()
    });
    let scenario = proptest::collection::vec(round(), 1..=3);
    if let Err(failure) = runner.run(&scenario, check_scenario) {
        panic!("{failure}");
    }
}

fn check_scenario(rounds: Vec<Round>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("temp dir");
    // The states the next start may show; before the first start, only the empty store.
    let mut allowed: Vec<Model> = vec![Model::new()];
    let mut next_id: u64 = 1;
    let last = Round {
        changes: Vec::new(),
        writers: 1,
        kill: Kill::AfterAcks(0),
        torn: None,
    };
    for (number, round) in rounds.iter().chain([&last]).enumerate() {
        let changes: Vec<Planned> = (next_id..)
            .zip(&round.changes)
            .map(|(id, ops)| Planned {
                id,
                ops: ops.clone(),
            })
            .collect();
        next_id += changes.len() as u64;
        let torn = round
            .torn
            .filter(|_| !changes.is_empty())
            .map(|index| changes[index.index(changes.len())].id);
        let plan = Plan {
            data_dir: dir.path().join("data"),
            changes,
            writers: round.writers,
            torn,
        };
        let run = run_once(dir.path(), &plan, round.kill);
        prop_assert!(
            matches!(run.status.signal(), Some(SIGKILL | SIGABRT)),
            "start {number} ended by itself ({}): {}",
            run.status,
            std::fs::read_to_string(&run.log).unwrap_or_default()
        );
        let is_last = number == rounds.len();
        let Some(found) = &run.found else {
            prop_assert!(!is_last, "the last start reported nothing ({})", run.status);
            // Killed before it reported: it changed nothing, the next start sees the same.
            prop_assert!(run.applied.is_empty(), "changes before the report");
            continue;
        };
        let base = check_found(found, &allowed, number)?;
        allowed = next_allowed(&base, &plan, &run)?;
    }
    Ok(())
}

/// Checks what a start found against the states it may show; returns it as a model.
fn check_found(found: &Found, allowed: &[Model], start: usize) -> Result<Model, TestCaseError> {
    prop_assert!(
        found.damaged.is_empty(),
        "start {start}: damaged entries {:?}",
        found.damaged
    );
    prop_assert_eq!(
        found.journal_records,
        0,
        "start {}: journal records after the trim mark left after the replay",
        start
    );
    let model: Model = found.entries.iter().copied().collect();
    prop_assert!(
        allowed.contains(&model),
        "start {start} found {model:?}, which is none of the states a crash may leave: {allowed:?}"
    );
    Ok(model)
}

/// The states a start after `run` may show: `base` with a prefix of the changes applied, in
/// the order they were applied, that keeps every acknowledged change (and ends with the torn
/// change if its crash point fired).
fn next_allowed(base: &Model, plan: &Plan, run: &Run) -> Result<Vec<Model>, TestCaseError> {
    let by_id: BTreeMap<u64, &Planned> = plan.changes.iter().map(|c| (c.id, c)).collect();
    let durable = run
        .applied
        .iter()
        .rposition(|id| run.acked.contains(id))
        .map_or(0, |position| position + 1);
    let aborted = run.status.signal() == Some(SIGABRT);
    let shortest = if aborted {
        let torn = plan.torn.expect("only the torn change aborts");
        prop_assert_eq!(
            run.applied.last(),
            Some(&torn),
            "the abort came from the torn change"
        );
        run.applied.len()
    } else {
        durable
    };
    let mut state = base.clone();
    let mut allowed = Vec::new();
    for (count, id) in std::iter::once(None)
        .chain(run.applied.iter().map(Some))
        .enumerate()
    {
        if let Some(id) = id {
            apply_to(&mut state, by_id[id]);
        }
        if count >= shortest {
            allowed.push(state.clone());
        }
    }
    Ok(allowed)
}

/// What the parent saw of one child.
struct Run {
    found: Option<Found>,
    /// Change ids in the order the writer took them (the last may not have been applied).
    applied: Vec<u64>,
    acked: HashSet<u64>,
    /// How the child ended.
    status: ExitStatus,
    /// What it wrote to stderr.
    log: PathBuf,
}

/// Starts a child on `plan`, kills it as `kill` says, and collects its report.
fn run_once(dir: &Path, plan: &Plan, kill: Kill) -> Run {
    let plan_file = dir.join("plan.json");
    std::fs::write(&plan_file, serde_json::to_vec(plan).expect("plan encodes")).expect("plan");
    let log = dir.join("child.log");
    let stderr = File::create(&log).expect("child log");
    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([test_name().as_str(), "--exact", "--nocapture"])
        .env(PLAN_VAR, &plan_file)
        .env("ORDERCENTER_FAILPOINT", TORN_POINT)
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("child starts");
    let stdout = child.stdout.take().expect("child stdout");
    let (lines, reports) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(report) = line.strip_prefix(REPORT) {
                if lines.send(report.trim().to_owned()).is_err() {
                    break;
                }
            }
        }
    });

    let mut reported = Reported::default();
    let give_up = started + CHILD_LIMIT;
    loop {
        let due = match kill {
            Kill::AfterAcks(acks) => reported.found.is_some() && reported.acked.len() >= acks,
            Kill::AfterMillis(ms) => started.elapsed() >= Duration::from_millis(ms),
        };
        if due || reported.done {
            break;
        }
        assert!(
            Instant::now() < give_up,
            "the child ran for {CHILD_LIMIT:?}"
        );
        let until = match kill {
            Kill::AfterMillis(ms) => started + Duration::from_millis(ms),
            _ => give_up,
        };
        match reports.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(report) => reported.read(&report),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.kill();
    let status = child.wait().expect("child reaped");
    reader.join().expect("reader thread");
    // Whatever it reported before it died.
    while let Ok(report) = reports.try_recv() {
        reported.read(&report);
    }
    Run {
        found: reported.found,
        applied: reported.applied,
        acked: reported.acked,
        status,
        log,
    }
}

/// The reports of one child so far.
#[derive(Default)]
struct Reported {
    found: Option<Found>,
    applied: Vec<u64>,
    acked: HashSet<u64>,
    done: bool,
}

impl Reported {
    fn read(&mut self, report: &str) {
        let (kind, rest) = report.split_once(' ').unwrap_or((report, ""));
        match kind {
            // A line cut by the kill is not a report.
            "found" => self.found = serde_json::from_str(rest).ok(),
            "applying" => self.applied.push(rest.parse().expect("change id")),
            "acked" => {
                self.acked.insert(rest.parse().expect("change id"));
            }
            "refused" => panic!("the store refused to open: {rest}"),
            "done" => self.done = true,
            other => panic!("unknown report {other:?}"),
        }
    }
}

fn test_name() -> String {
    let module = module_path!()
        .split_once("::")
        .map_or(module_path!(), |(_, rest)| rest);
    format!("{module}::acknowledged_changes_survive_random_crashes_whole_and_nothing_half_applied_appears")
}

/// One report line on stdout, written at once (the parent may kill at any moment).
fn report(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{REPORT} {line}");
    let _ = out.flush();
}

/// The child side: opens the store, reports what it holds, writes the plan's changes and
/// waits to be killed.
fn run_child(plan_file: &Path) -> ! {
    let plan: Plan = serde_json::from_slice(&std::fs::read(plan_file).expect("plan file"))
        .expect("plan decodes");
    let config = StoreConfig::for_tests(&plan.data_dir);
    let store = match Store::open(&config) {
        Ok(store) => store,
        Err(error) => {
            report(&format!("refused {error}"));
            std::process::exit(3);
        }
    };
    let trees: Vec<sled::Tree> = (0..TREES)
        .map(|tree| store.tree(&tree_name(tree)).expect("tree opens"))
        .collect();
    report(&format!(
        "found {}",
        serde_json::to_string(&found(&store, &trees)).expect("report encodes")
    ));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(futures::stream::iter(plan.changes).for_each_concurrent(
        plan.writers,
        |planned| {
            let (writer, trees, torn) = (store.clone(), trees.clone(), plan.torn);
            async move {
                let id = planned.id;
                let applier = writer.clone();
                let written = writer
                    .write(move || {
                        report(&format!("applying {id}"));
                        let mut change = Change::new();
                        for (index, op) in planned.ops.iter().enumerate() {
                            let tree = &trees[usize::from(op.tree)];
                            match op.len {
                                Some(len) => {
                                    change.insert(tree, [op.key], value_bytes(id, index as u8, len))
                                }
                                None => change.remove(tree, [op.key]),
                            }
                        }
                        if torn == Some(id) {
                            change.crash_point(TORN_POINT);
                        }
                        applier.apply(change)
                    })
                    .await;
                match written {
                    Ok(()) => report(&format!("acked {id}")),
                    Err(error) => panic!("change {id} failed: {error}"),
                }
            }
        },
    ));
    report("done");
    // The parent kills it; a parent that died first leaves it to end by itself.
    std::thread::sleep(CHILD_LIMIT);
    std::process::exit(0);
}

/// Every key of the model's trees, and how many journal records are left to replay.
fn found(store: &Store, trees: &[sled::Tree]) -> Found {
    let mut found = Found {
        entries: Vec::new(),
        damaged: Vec::new(),
        journal_records: records_after_mark(&store.tree(JOURNAL_TREE).expect("journal"))
            .expect("journal records read")
            .len(),
    };
    for (tree_index, tree) in trees.iter().enumerate() {
        for entry in tree.iter() {
            let (key, value) = entry.expect("entry reads");
            match (key.as_ref(), read_value(&value)) {
                (&[key], Some(written)) => found.entries.push(((tree_index as u8, key), written)),
                _ => found.damaged.push(format!(
                    "tree {tree_index} key {key:?}: {} bytes",
                    value.len()
                )),
            }
        }
    }
    found
}
