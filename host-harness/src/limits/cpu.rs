//! CPU time per call: a meter of the time a call's future spends being
//! polled, the per-call budget its epoch deadlines enforce, and the thread
//! that advances an engine's epoch.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wasmtime::{Engine, Store, UpdateDeadline};

use super::{CPU_SLICE, EPOCH_TICK, LimitExceeded, LimitKind, Limits, Tripwire};

/// The time a call has spent running: the sum of the time its future spent
/// inside `poll`, the current poll included.
#[derive(Debug, Default)]
pub(crate) struct CpuMeter(Mutex<MeterState>);

#[derive(Debug, Default)]
struct MeterState {
    spent: Duration,
    running_since: Option<Instant>,
}

impl CpuMeter {
    fn lock(&self) -> MutexGuard<'_, MeterState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a new call at zero.
    pub(crate) fn reset(&self) {
        *self.lock() = MeterState::default();
    }

    fn start(&self) {
        self.lock().running_since = Some(Instant::now());
    }

    fn stop(&self) {
        let mut state = self.lock();
        if let Some(since) = state.running_since.take() {
            state.spent += since.elapsed();
        }
    }

    /// Time spent so far, and how long the current poll has been running.
    fn read(&self) -> (Duration, Duration) {
        let state = self.lock();
        let current = state.running_since.map_or(Duration::ZERO, |s| s.elapsed());
        (state.spent + current, current)
    }

    /// Time spent so far in this call.
    pub(crate) fn spent(&self) -> Duration {
        self.read().0
    }
}

/// Runs `future`, adding the time spent polling it to `meter`.
pub(crate) async fn metered<F: Future>(meter: &CpuMeter, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        meter.start();
        let result = future.as_mut().poll(cx);
        meter.stop();
        result
    })
    .await
}

/// Epoch ticks covering `duration`, rounded up.
pub(crate) fn ticks_for(duration: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos();
    u64::try_from(duration.as_nanos().div_ceil(tick)).unwrap_or(u64::MAX)
}

/// The per-call CPU budget of a store: the deadline callback, installed once,
/// and the deadline, armed before every call (see the module's docs).
pub(crate) struct CpuBudget {
    limit: Duration,
    meter: Arc<CpuMeter>,
}

impl CpuBudget {
    /// Installs the budget's callback on `store`.
    pub(crate) fn install<T: 'static>(
        store: &mut Store<T>,
        limits: &Limits,
        meter: Arc<CpuMeter>,
        tripwire: Arc<Tripwire>,
    ) -> CpuBudget {
        let limit = limits.cpu_time_per_call;
        let value = limits.value_of(LimitKind::CpuTime);
        let callback_meter = meter.clone();
        store.epoch_deadline_callback(move |_store| {
            // A guest that goes on running after a limit refused it (a
            // flood of refused requests, say) is misbehaving: end the call
            // at its next deadline instead of letting it burn its budget.
            if let Some(hit) = tripwire.peek() {
                return Err(wasmtime::Error::new(hit));
            }
            let (spent, this_poll) = callback_meter.read();
            if spent >= limit {
                let hit = LimitExceeded {
                    limit: LimitKind::CpuTime,
                    value: value.clone(),
                    detail: format!("the guest ran for {spent:.1?} without finishing (time waiting on I/O is not counted)"),
                };
                tripwire.trip(hit.clone());
                return Err(wasmtime::Error::new(hit));
            }
            let next = ticks_for((limit - spent).min(CPU_SLICE)).max(1);
            Ok(if this_poll >= CPU_SLICE { UpdateDeadline::Yield(next) } else { UpdateDeadline::Continue(next) })
        });
        CpuBudget { limit, meter }
    }

    /// Starts a call: its meter at zero, its first deadline set.
    pub(crate) fn arm<T>(&self, store: &mut Store<T>) {
        self.meter.reset();
        store.set_epoch_deadline(ticks_for(self.limit.min(CPU_SLICE)));
    }
}

/// A thread advancing an engine's epoch every `interval`, for as long as this
/// value lives: dropping it stops and joins the thread.
pub struct EpochTicker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    pub(super) ticks: Arc<AtomicU64>,
}

impl EpochTicker {
    /// Starts the thread, ticking `engine`'s epoch every `interval`.
    pub fn start(engine: &Engine, interval: Duration) -> std::io::Result<EpochTicker> {
        let (stop, stopped) = mpsc::channel::<()>();
        let engine = engine.clone();
        let ticks = Arc::new(AtomicU64::new(0));
        let counter = ticks.clone();
        let thread = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                // Ends as soon as the sender is dropped (or sends).
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    engine.increment_epoch();
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })?;
        Ok(EpochTicker {
            stop: Some(stop),
            thread: Some(thread),
            ticks,
        })
    }

    /// How many times it has advanced the epoch.
    pub fn ticks(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for EpochTicker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EpochTicker")
            .field("ticks", &self.ticks())
            .finish()
    }
}
