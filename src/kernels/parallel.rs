//! How a kernel spreads its work: [`Par`], the row- and column-splitting helpers every parallel kernel uses, and
//! the launcher that runs the pieces ([`run_tasks`]).
//!
//! The output rows are cut into contiguous ranges of about equal cost, one task each. Each output element is
//! computed by exactly one task in the same order as sequentially, so results are bit-identical whatever the
//! thread count and whichever thread runs which task.
//!
//! The tasks go to a process-wide team of persistent worker threads rather than to rayon: a training step hands
//! off about ten products a few microseconds apart, and an idle rayon worker that has gone to sleep costs the
//! caller 34-110 us to wake on a virtual machine (`examples/join_cost.rs`). The team's workers spin between
//! hand-offs, so a hand-off reaches a worker that is awake. The number of threads is the caller's argument:
//! [`Par::Rayon`]`(n)` cuts the work into at most `n` pieces and runs them on at most `n` threads (the caller and
//! `n - 1` workers of the team); nothing here reads a thread count from the environment or a global pool.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// How a kernel may spread its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Par {
    /// On the calling thread.
    #[default]
    Seq,
    /// On this many threads (the caller and `n - 1` workers of the team), the work cut into as many pieces
    /// (`Rayon(1)` is sequential).
    Rayon(usize),
}

impl Par {
    /// Number of pieces to cut the work into.
    pub fn pieces(self) -> usize {
        match self {
            Par::Seq => 1,
            Par::Rayon(n) => n.max(1),
        }
    }
}

/// Row boundaries `0 = r_0 <= ... <= r_m = rows` of at most `pieces` ranges with about equal `cost`, where
/// `cost(r)` is the cumulative cost of rows `0..r` (non-decreasing).
pub(crate) fn split_rows(rows: usize, pieces: usize, cost: impl Fn(usize) -> usize) -> Vec<usize> {
    let pieces = pieces.clamp(1, rows.max(1));
    let total = cost(rows);
    let mut bounds = vec![0];
    for t in 1..pieces {
        let target = total * t / pieces;
        // First row boundary whose prefix cost reaches the target.
        let (mut lo, mut hi) = (*bounds.last().unwrap(), rows);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if cost(mid) < target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        bounds.push(lo);
    }
    bounds.push(rows);
    bounds.dedup();
    bounds
}

/// Runs `f(r0, r1, out_piece)` for each row range of `bounds`; `offset(r)` is where row `r`'s output starts in
/// `out` (non-decreasing), so the pieces are disjoint slices.
pub(crate) fn run_pieces<O, F>(bounds: &[usize], offset: O, out: &mut [f32], f: F)
where
    O: Fn(usize) -> usize,
    F: Fn(usize, usize, &mut [f32]) + Sync,
{
    let (first, last) = (bounds[0], *bounds.last().unwrap());
    if bounds.len() <= 2 {
        f(first, last, &mut out[offset(first)..offset(last)]);
        return;
    }
    let pieces = bounds
        .windows(2)
        .scan(&mut out[offset(first)..offset(last)], |rest, w| {
            let (piece, tail) = std::mem::take(rest).split_at_mut(offset(w[1]) - offset(w[0]));
            *rest = tail;
            Some((w[0], w[1], piece))
        })
        .collect();
    for_each_piece(pieces, |(r0, r1, piece)| f(r0, r1, piece));
}

/// `par.pieces()` near-equal row ranges of `0..rows` (at most one per row): [`split_rows`] with a unit cost
/// per row.
pub(crate) fn even_rows(rows: usize, par: Par) -> Vec<usize> {
    split_rows(rows, par.pieces(), |r| r)
}

/// Column boundaries `0 = c_0 < ... < c_p = cols` of at most `par.pieces()` near-equal ranges, each inner
/// boundary a multiple of `align` (so that no piece splits a micro-kernel tile).
pub(crate) fn even_cols(cols: usize, par: Par, align: usize) -> Vec<usize> {
    let align = align.max(1);
    let tiles = cols.div_ceil(align);
    let mut bounds: Vec<usize> = split_rows(tiles, par.pieces(), |t| t)
        .into_iter()
        .map(|t| (t * align).min(cols))
        .collect();
    bounds.dedup();
    bounds
}

/// Runs `f(c0, c1, scratch, rows)` for each column range `c0..c1` of `bounds` on a row-major output `out` of
/// row stride `stride` (`out.len()` a multiple of it): `rows` holds that range of every row
/// (`out[i * stride + c0..i * stride + c1]`), `scratch` is the piece's own buffer from `scratch` (at least one
/// per piece, kept by the caller from step to step; only the lists of row pieces, one pointer per row, are
/// built per call). With a single piece, `f` runs on the calling thread.
pub(crate) fn run_col_pieces<F>(
    bounds: &[usize],
    stride: usize,
    out: &mut [f32],
    scratch: &mut [Vec<f32>],
    f: F,
) where
    F: Fn(usize, usize, &mut Vec<f32>, &mut [&mut [f32]]) + Sync,
{
    let pieces = bounds.len() - 1;
    assert!(
        scratch.len() >= pieces && *bounds.last().unwrap() <= stride,
        "run_col_pieces: {pieces} pieces need as many scratch buffers and columns within the stride"
    );
    let mut lists: Vec<Vec<&mut [f32]>> = (0..pieces)
        .map(|_| Vec::with_capacity(out.len() / stride.max(1)))
        .collect();
    for row in out.chunks_exact_mut(stride.max(1)) {
        let mut rest = &mut row[bounds[0]..];
        for (list, w) in lists.iter_mut().zip(bounds.windows(2)) {
            let (piece, tail) = rest.split_at_mut(w[1] - w[0]);
            list.push(piece);
            rest = tail;
        }
    }
    if pieces == 1 {
        return f(bounds[0], bounds[1], &mut scratch[0], &mut lists[0]);
    }
    let pieces = lists
        .iter_mut()
        .zip(scratch.iter_mut())
        .zip(bounds.windows(2))
        .map(|((list, buf), w)| (w[0], w[1], buf, list))
        .collect();
    for_each_piece(pieces, |(c0, c1, buf, list)| f(c0, c1, buf, list));
}

/// Whether a product `C (m x n) = A (m x inner) B (inner x n)` spread over threads is better cut into ranges
/// of columns of `C` than into ranges of rows. Each piece packs its own part of one operand and the whole of
/// the other: a row piece packs all of `B` (`inner x n`), a column piece all of `A` (`m x inner`), so the cut
/// goes across the larger operand's outer dimension. Decided from the whole product's shape only; either cut
/// computes the same bits.
pub fn split_columns(m: usize, n: usize) -> bool {
    n > m
}

/// Runs `f` on every piece, each piece once, spread over the threads [`run_tasks`] uses.
pub(crate) fn for_each_piece<T: Send>(pieces: Vec<T>, f: impl Fn(T) + Sync) {
    let slots: Vec<Mutex<Option<T>>> = pieces.into_iter().map(|p| Mutex::new(Some(p))).collect();
    run_tasks(slots.len(), &|i| {
        let piece = slots[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(piece) = piece {
            f(piece);
        }
    });
}

/// Runs `task(i)` once for every `i` in `0..tasks`, on up to `tasks` threads (the calling thread among them; the
/// callers cut their work into at most [`Par::pieces`] tasks, so that is the thread count they were given), and
/// returns when all have finished. Which thread runs which index is not fixed,
/// so `task` must give the same result wherever it runs. A panic of any task is raised again here once every
/// task has finished.
pub fn run_tasks(tasks: usize, task: &(dyn Fn(usize) + Sync)) {
    let Some(log) = log::start(tasks) else {
        return launch(tasks, task);
    };
    let caller = std::thread::current().id();
    let (first_helper, caller_done, helper_done) = (
        AtomicU64::new(u64::MAX),
        AtomicU64::new(0),
        AtomicU64::new(0),
    );
    launch(tasks, &|i| {
        let on_caller = std::thread::current().id() == caller;
        if !on_caller {
            first_helper.fetch_min(log::now(), Ordering::Relaxed);
        }
        task(i);
        let done = if on_caller {
            &caller_done
        } else {
            &helper_done
        };
        done.fetch_max(log::now(), Ordering::Relaxed);
    });
    log::end(
        log,
        first_helper.into_inner(),
        caller_done.into_inner(),
        helper_done.into_inner(),
    );
}

fn launch(tasks: usize, task: &(dyn Fn(usize) + Sync)) {
    let threads = tasks.min(crate::limits::MAX_THREADS);
    if threads <= 1 {
        return (0..tasks).for_each(task);
    }
    let team = team::Team::get();
    match team::Owner::try_new(&team.owned) {
        Some(_owner) => team.tasks.run(team, threads - 1, tasks, task, &mut || ()),
        None => (0..tasks).for_each(task),
    }
}

/// Runs `side` on a worker of the team while `main` runs on the calling thread, and returns `main`'s result once
/// both have finished. `main`'s own hand-offs use the team as usual: while the worker runs `side`, the caller
/// takes their tasks alone, and the worker joins them when it is done. If no worker has started `side` by the
/// time `main` returns (`par` has one thread, the team is already running a side task, or the
/// worker has not woken), the caller runs it then. With `par` of one thread, `main` and then `side` run on the
/// caller. A panic of either is raised again here, after the other
/// part has finished if they ran on two threads.
pub fn overlap<R>(par: Par, side: impl FnOnce() + Send, main: impl FnOnce() -> R) -> R {
    let team = team::Team::get();
    let owner = (par.pieces() > 1)
        .then(|| team::Owner::try_new(&team.side_owned))
        .flatten();
    let Some(_owner) = owner else {
        let r = main();
        side();
        return r;
    };
    let side = Mutex::new(Some(side));
    let (mut main, mut result) = (Some(main), None);
    team.side.run(
        team,
        1,
        1,
        &|_| {
            let side = side.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(side) = side {
                side();
            }
        },
        &mut || result = main.take().map(|main| main()),
    );
    result.expect("overlap: the main part ran")
}

/// The process-wide team of worker threads that [`run_tasks`] and [`overlap`] hand tasks to.
///
/// It has two slots for jobs, each a task count and a reference to the task: `tasks` for the pieces of
/// [`run_tasks`] and `side` for the side task of [`overlap`]. One caller at a time owns a slot: it publishes a
/// job and takes task indices from the slot's counter, as do up to the requested number of workers; it returns
/// once the job is withdrawn and no worker holds it any more. A caller that finds the slot owned (another
/// caller, or a call from inside a task) runs its tasks itself. An idle worker spins for a while
/// ([`team::spin_time`]) before it parks, so that the hand-offs of a training step, a few microseconds apart,
/// reach a worker that is awake.
mod team {
    use std::any::Any;
    use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
    use std::thread::{self, Thread};
    use std::time::{Duration, Instant};

    /// A published job: the task and how many tasks there are.
    #[derive(Clone, Copy)]
    struct Job {
        task: &'static (dyn Fn(usize) + Sync),
        tasks: usize,
    }

    /// A worker as the owners see it: its thread (to unpark) and whether it is parked or about to park.
    struct Worker {
        thread: Thread,
        asleep: Arc<AtomicBool>,
    }

    type Panic = Box<dyn Any + Send>;

    /// Where one job at a time is published.
    pub(super) struct Slot {
        /// The published job and how many more workers may join it; `None` when withdrawn.
        job: Mutex<Option<(Job, usize)>>,
        /// The next task index to run.
        next: AtomicUsize,
        /// Workers that joined the current job and have not released it.
        active: AtomicUsize,
        /// The first panic of a task run by a worker.
        panic: Mutex<Option<Panic>>,
    }

    pub(super) struct Team {
        /// Whether a caller owns `tasks`.
        pub(super) owned: AtomicBool,
        /// Whether a caller owns `side`.
        pub(super) side_owned: AtomicBool,
        /// Bumped each time a job is published; workers watch it.
        epoch: AtomicUsize,
        pub(super) tasks: Slot,
        pub(super) side: Slot,
        workers: Mutex<Vec<Worker>>,
    }

    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long an idle worker spins before it parks: `NEUROSPLIT_TEAM_SPIN_US` microseconds, 200 if unset.
    pub(super) fn spin_time() -> Duration {
        static SPIN: OnceLock<Duration> = OnceLock::new();
        *SPIN.get_or_init(|| {
            let us = std::env::var("NEUROSPLIT_TEAM_SPIN_US")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(200);
            Duration::from_micros(us)
        })
    }

    /// Ownership of a slot, released when dropped (also by unwinding).
    pub(super) struct Owner(&'static AtomicBool);

    impl Owner {
        pub(super) fn try_new(flag: &'static AtomicBool) -> Option<Owner> {
            flag.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .ok()
                .map(|_| Owner(flag))
        }
    }

    impl Drop for Owner {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Release);
        }
    }

    impl Slot {
        const fn new() -> Slot {
            Slot {
                job: Mutex::new(None),
                next: AtomicUsize::new(0),
                active: AtomicUsize::new(0),
                panic: Mutex::new(None),
            }
        }

        /// Takes task indices of `job` until none are left, returning the first panic.
        fn take_tasks(&self, job: Job) -> Option<Panic> {
            catch_unwind(AssertUnwindSafe(|| loop {
                let i = self.next.fetch_add(1, Ordering::Relaxed);
                if i >= job.tasks {
                    break;
                }
                (job.task)(i);
            }))
            .err()
        }

        /// A worker's part: joins the published job if there is room, runs its tasks, releases it.
        fn help(&self) {
            let job = {
                let mut slot = lock(&self.job);
                match slot.as_mut() {
                    Some((job, room)) if *room > 0 => {
                        *room -= 1;
                        self.active.fetch_add(1, Ordering::Relaxed);
                        Some(*job)
                    }
                    _ => None,
                }
            };
            if let Some(job) = job {
                if let Some(p) = self.take_tasks(job) {
                    lock(&self.panic).get_or_insert(p);
                }
                self.active.fetch_sub(1, Ordering::Release);
            }
        }

        /// Publishes `task(i)` for `i` in `0..tasks` to up to `helpers` workers, runs `first()` and then takes
        /// tasks on the calling thread, and returns once every task has run. The caller must own this slot.
        pub(super) fn run(
            &self,
            team: &Team,
            helpers: usize,
            tasks: usize,
            task: &(dyn Fn(usize) + Sync),
            first: &mut dyn FnMut(),
        ) {
            team.grow(helpers);
            // SAFETY: the job is published in `self.job` and withdrawn below before this function returns, and
            // a worker uses it only between taking it from `self.job` (counted in `self.active` under that lock)
            // and decrementing `self.active`. This function waits for `self.active` to reach zero after the
            // withdrawal, and nothing between publishing and that wait can unwind: `first` and the tasks run
            // under `catch_unwind`, mutex locks ignore poisoning, unparking does not panic. So `task` outlives
            // every use of the extended reference.
            let task: &'static (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(task) };
            let job = Job { task, tasks };
            self.next.store(0, Ordering::Relaxed);
            *lock(&self.job) = Some((job, helpers));
            team.epoch.fetch_add(1, Ordering::SeqCst);
            for w in lock(&team.workers).iter().take(helpers) {
                if w.asleep.swap(false, Ordering::SeqCst) {
                    w.thread.unpark();
                }
            }
            let before = catch_unwind(AssertUnwindSafe(first)).err();
            let mine = self.take_tasks(job);
            *lock(&self.job) = None;
            let mut spins = 0u32;
            while self.active.load(Ordering::Acquire) != 0 {
                spins = spins.wrapping_add(1);
                if spins < 1 << 12 {
                    std::hint::spin_loop();
                } else {
                    thread::yield_now();
                }
            }
            let theirs = lock(&self.panic).take();
            if let Some(p) = before.or(mine).or(theirs) {
                resume_unwind(p);
            }
        }
    }

    impl Team {
        pub(super) fn get() -> &'static Team {
            static TEAM: Team = Team {
                owned: AtomicBool::new(false),
                side_owned: AtomicBool::new(false),
                epoch: AtomicUsize::new(0),
                tasks: Slot::new(),
                side: Slot::new(),
                workers: Mutex::new(Vec::new()),
            };
            &TEAM
        }

        /// Starts workers until there are `n` (fewer if the system refuses threads).
        fn grow(&self, n: usize) {
            let mut workers = lock(&self.workers);
            while workers.len() < n {
                let asleep = Arc::new(AtomicBool::new(false));
                let seen = self.epoch.load(Ordering::Acquire);
                let flag = Arc::clone(&asleep);
                let spawned = thread::Builder::new()
                    .name(format!("neurosplit-team-{}", workers.len()))
                    .spawn(move || Team::get().work(seen, &flag));
                match spawned {
                    Ok(handle) => workers.push(Worker {
                        thread: handle.thread().clone(),
                        asleep,
                    }),
                    Err(_) => break,
                }
            }
        }

        /// A worker's loop: wait for a new epoch (spinning, then parked), then help with the side task and the
        /// tasks if there is room.
        fn work(&self, mut seen: usize, asleep: &AtomicBool) {
            loop {
                let mut idle_since = Instant::now();
                let mut spins = 0u32;
                loop {
                    let epoch = self.epoch.load(Ordering::Acquire);
                    if epoch != seen {
                        seen = epoch;
                        break;
                    }
                    std::hint::spin_loop();
                    spins = spins.wrapping_add(1);
                    if spins.is_multiple_of(1024) {
                        // Lets a thread that shares this CPU (the owner, on a machine with other work) run.
                        thread::yield_now();
                    }
                    if spins.is_multiple_of(64) && idle_since.elapsed() >= spin_time() {
                        // An owner sets `epoch` then reads `asleep`; this sets `asleep` then reads `epoch` (all
                        // SeqCst), so either it sees the new epoch or the owner sees the flag and unparks it.
                        asleep.store(true, Ordering::SeqCst);
                        if self.epoch.load(Ordering::SeqCst) == seen {
                            thread::park();
                        }
                        asleep.store(false, Ordering::SeqCst);
                        idle_since = Instant::now();
                    }
                }
                self.side.help();
                self.tasks.help();
            }
        }
    }
}

/// An optional log of the hand-offs: with `NEUROSPLIT_HANDOFF_LOG` set, every call of [`run_tasks`] with two or
/// more tasks is timed (the serial time since the previous call returned, and the call's own time), and a
/// summary of each 1000 calls is printed to standard error.
mod log {
    use std::sync::{Mutex, OnceLock, PoisonError};
    use std::time::Instant;

    struct Log {
        last_end: u64,
        /// (serial gap ns, call ns, ns until another thread started a task or `u64::MAX`, ns the caller
        /// waited after its last task) of the calls since the last summary.
        calls: Vec<(u64, u64, u64, u64)>,
        /// Sum over those calls of the ns between the other threads' last task and the call's end.
        helper_idle: u64,
    }

    fn log() -> Option<&'static Mutex<Log>> {
        static LOG: OnceLock<Option<Mutex<Log>>> = OnceLock::new();
        LOG.get_or_init(|| {
            std::env::var_os("NEUROSPLIT_HANDOFF_LOG").map(|_| {
                Mutex::new(Log {
                    last_end: 0,
                    calls: Vec::with_capacity(1000),
                    helper_idle: 0,
                })
            })
        })
        .as_ref()
    }

    /// Nanoseconds since the log was opened.
    pub(super) fn now() -> u64 {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        ORIGIN.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }

    /// The start of a call of `tasks` tasks, if it is logged.
    pub(super) fn start(tasks: usize) -> Option<u64> {
        log().filter(|_| tasks > 1)?;
        Some(now())
    }

    /// The end of a call that started at `t0`, in which another thread first started a task at `helper`, the
    /// caller finished its last task at `caller_done` and the other threads theirs at `helper_done`.
    pub(super) fn end(t0: u64, helper: u64, caller_done: u64, helper_done: u64) {
        let Some(log) = log() else {
            return;
        };
        let mut l = log.lock().unwrap_or_else(PoisonError::into_inner);
        let t1 = now();
        let gap = t0.saturating_sub(l.last_end);
        let wait = t1.saturating_sub(caller_done.max(t0));
        if helper != u64::MAX {
            l.helper_idle += t1.saturating_sub(helper_done);
        }
        l.calls.push((
            gap,
            t1 - t0,
            if helper == u64::MAX {
                helper
            } else {
                helper.saturating_sub(t0)
            },
            wait,
        ));
        if l.calls.len() == 1000 {
            let mut gaps: Vec<u64> = l.calls.iter().map(|c| c.0).collect();
            let mut calls: Vec<u64> = l.calls.iter().map(|c| c.1).collect();
            gaps.sort_unstable();
            calls.sort_unstable();
            let edges = [
                5_000u64, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000,
            ];
            let hist: Vec<String> = std::iter::once(0)
                .chain(edges)
                .zip(edges.iter().map(Some).chain([None]))
                .map(|(lo, hi)| {
                    let n = gaps
                        .iter()
                        .filter(|&&g| g >= lo && hi.is_none_or(|&h| g < h))
                        .count();
                    match hi {
                        Some(h) => format!("{}-{}us:{n}", lo / 1000, h / 1000),
                        None => format!(">={}us:{n}", lo / 1000),
                    }
                })
                .collect();
            let mut wake: Vec<u64> = l
                .calls
                .iter()
                .map(|c| c.2)
                .filter(|&w| w != u64::MAX)
                .collect();
            wake.sort_unstable();
            let mut waits: Vec<u64> = l.calls.iter().map(|c| c.3).collect();
            waits.sort_unstable();
            let q = |v: &[u64], p: usize| {
                v.get(v.len() * p / 100)
                    .map_or(f64::NAN, |&x| x as f64 / 1e3)
            };
            eprintln!(
                "handoff log: 1000 calls; serial gap before a call us p10/p50/p90 {:.1}/{:.1}/{:.1}, sum {:.0}; \
                 gaps {}; call us p10/p50/p90 {:.1}/{:.1}/{:.1}, sum {:.0}; \
                 another thread took part in {} calls, starting after us p10/p50/p90 {:.1}/{:.1}/{:.1}, sum {:.0}; \
                 the caller waited after its tasks us p50/p90 {:.1}/{:.1}, sum {:.0}; \
                 the other threads idled after their tasks us sum {:.0}",
                q(&gaps, 10),
                q(&gaps, 50),
                q(&gaps, 90),
                gaps.iter().sum::<u64>() as f64 / 1e3,
                hist.join(" "),
                q(&calls, 10),
                q(&calls, 50),
                q(&calls, 90),
                calls.iter().sum::<u64>() as f64 / 1e3,
                wake.len(),
                q(&wake, 10),
                q(&wake, 50),
                q(&wake, 90),
                wake.iter().sum::<u64>() as f64 / 1e3,
                q(&waits, 50),
                q(&waits, 90),
                waits.iter().sum::<u64>() as f64 / 1e3,
                l.helper_idle as f64 / 1e3,
            );
            l.calls.clear();
            l.helper_idle = 0;
        }
        l.last_end = now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    /// Runs `tasks` tasks and returns how often each index ran.
    fn counts(tasks: usize) -> Vec<usize> {
        let runs: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
        run_tasks(tasks, &|i| {
            runs[i].fetch_add(1, Ordering::Relaxed);
        });
        runs.into_iter().map(AtomicUsize::into_inner).collect()
    }

    #[test]
    fn every_task_runs_once_at_every_count_and_thread_count() {
        for threads in [1, 2, 3, 5] {
            pool(threads).install(|| {
                for tasks in 0..=9 {
                    for _ in 0..20 {
                        assert_eq!(
                            counts(tasks),
                            vec![1; tasks],
                            "{tasks} tasks on {threads} threads"
                        );
                    }
                }
            });
        }
    }

    #[test]
    fn concurrent_and_nested_callers_each_get_all_their_tasks() {
        pool(4).install(|| {
            (0..64).into_par_iter().for_each(|k| {
                let tasks = k % 9 + 1;
                assert_eq!(counts(tasks), vec![1; tasks], "caller {k}");
            });
            // Tasks that hand out tasks of their own, from the owner and from the workers.
            let runs: Vec<AtomicUsize> = (0..7 * 5).map(|_| AtomicUsize::new(0)).collect();
            run_tasks(7, &|i| {
                run_tasks(5, &|j| {
                    runs[i * 5 + j].fetch_add(1, Ordering::Relaxed);
                })
            });
            assert!(runs.iter().all(|r| r.load(Ordering::Relaxed) == 1));
        });
    }

    #[test]
    fn a_panicking_task_panics_the_caller_and_the_team_stays_usable() {
        pool(3).install(|| {
            for bad in 0..6 {
                let got = std::panic::catch_unwind(|| {
                    run_tasks(6, &|i| {
                        if i == bad {
                            panic!("task {i} failed");
                        }
                    })
                });
                let payload = got.expect_err("the panic must reach the caller");
                let msg = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_default();
                assert_eq!(msg, format!("task {bad} failed"));
                assert_eq!(counts(6), vec![1; 6]);
            }
            // Every task panicking: whichever thread runs them, one panic comes back.
            assert!(std::panic::catch_unwind(|| run_tasks(4, &|_| panic!("all"))).is_err());
            assert_eq!(counts(9), vec![1; 9]);
        });
    }

    #[test]
    fn overlap_runs_both_parts_once_with_hand_offs_inside_and_raises_their_panics() {
        for threads in [1, 2, 3] {
            pool(threads).install(|| {
                for k in 0..50 {
                    let side = AtomicUsize::new(0);
                    let got = overlap(
                        Par::Rayon(threads),
                        || {
                            side.fetch_add(1, Ordering::Relaxed);
                        },
                        || counts(k % 9 + 1),
                    );
                    assert_eq!(got, vec![1; k % 9 + 1]);
                    assert_eq!(side.load(Ordering::Relaxed), 1);
                }
                // Side tasks that hand off tasks, and overlaps from inside tasks.
                let runs: Vec<AtomicUsize> = (0..4 * 6).map(|_| AtomicUsize::new(0)).collect();
                run_tasks(4, &|i| {
                    overlap(
                        Par::Rayon(threads),
                        || assert_eq!(counts(5), vec![1; 5]),
                        || {
                            run_tasks(6, &|j| {
                                runs[i * 6 + j].fetch_add(1, Ordering::Relaxed);
                            })
                        },
                    )
                });
                assert!(runs.iter().all(|r| r.load(Ordering::Relaxed) == 1));
                let side = std::panic::catch_unwind(|| {
                    overlap(Par::Rayon(threads), || panic!("side"), || 1)
                });
                assert!(side.is_err());
                let main = std::panic::catch_unwind(|| {
                    overlap(Par::Rayon(threads), || (), || panic!("main"))
                });
                assert!(main.is_err());
                assert_eq!(
                    overlap(Par::Rayon(threads), || (), || counts(3)),
                    vec![1; 3]
                );
            });
        }
    }

    #[test]
    fn pieces_are_handed_out_whole_and_in_place() {
        pool(2).install(|| {
            let mut out = vec![0.0f32; 1000];
            let bounds = split_rows(100, 7, |r| r * r);
            run_pieces(
                &bounds,
                |r| r * 10,
                &mut out,
                |r0, r1, piece| {
                    assert_eq!(piece.len(), (r1 - r0) * 10);
                    for (k, v) in piece.iter_mut().enumerate() {
                        *v = (r0 * 10 + k) as f32;
                    }
                },
            );
            assert!(out.iter().enumerate().all(|(i, &v)| v == i as f32));
        });
    }
}
