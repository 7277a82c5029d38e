//! Per-instance resource limits, and the machinery that enforces them.
//!
//! Every [`crate::ConnectorInstance`] runs under one [`Limits`]: the operator's
//! defaults ([`crate::HostConfig::limits`]) or a tenant's own
//! ([`crate::Connector::instantiate_with_limits`]). Exceeding any of them ends
//! the call in progress with [`crate::HarnessError::Limit`], which names the
//! limit and its value; the process, the engine and every other instance go
//! on. How each is enforced:
//!
//! | limit | where | what the guest sees |
//! | --- | --- | --- |
//! | `memory_bytes`, `table_elements`, `instances` | the store's [`wasmtime::ResourceLimiter`] (wasmtime's [`wasmtime::StoreLimits`] plus a total over all memories) | a trap |
//! | `cpu_time_per_call` | epoch interruption: an [`EpochTicker`] per engine, a deadline armed before every call, a callback that checks the call's metered time | a trap |
//! | `requests_per_call` | `PolicyHooks` counts each call's requests | `HttpRequestDenied` |
//! | `response_body_bytes` | the response body the hooks hand out | a stream error (`HttpResponseBodySize`) |
//! | `concurrent_connections` | a semaphore in the hooks, held by each open connection (busy, or idle in the keep-alive pool) until it closes | `ConnectionLimitReached` after waiting |
//! | `records_per_page`, `bytes_per_page`, `state_bytes` | checked on each page `fetch` returns, before anything is written | nothing: the call's result is refused |
//! | `host_resources` | the capacity of the store's resource table: every handle the guest holds (fields, requests, bodies, streams, pollables) is an entry, kept across calls until the guest drops it | a trap |
//! | `header_bytes` | wasmtime-wasi-http's size limit of each `fields` resource | a trap |
//! | `request_body_bytes`, `request_bytes_per_call` | the request body the hooks send, counted as it goes out (a declared length over the limit is refused before sending) | a stream error on the request |
//! | `call_time` | a wall-clock deadline around every call, whatever the guest waits on | nothing: the call is abandoned |
//!
//! # Host memory
//!
//! Linear memory is the guest's own and `memory_bytes` caps it. What a
//! guest makes the *host* hold lives in the store's resource table, one
//! entry per handle: header maps (`fields`, the only resource whose size the
//! guest chooses, each capped at `header_bytes`), requests and their bodies
//! (whose buffers wasmtime-wasi-http bounds), responses (their bodies capped
//! at `response_body_bytes` as they are read), streams and pollables. So
//! the host memory one instance's resources can hold is bounded by
//! [`Limits::host_memory_bound`]: `host_resources` × `header_bytes`, plus
//! the buffers of at most `concurrent_connections` connections. Both limits
//! end the call with a trap naming them, and the store (with every handle
//! it held) is dropped when the instance is replaced.
//!
//! Whatever the guest makes of a refused request or a broken body (an error,
//! a partial page), the host reports the limit: a call during which a limit
//! was hit never succeeds. A guest that keeps running after one (looping on
//! refused requests) is trapped at its next CPU deadline, at most
//! [`CPU_SLICE`] later, when CPU time is enforced. A trap (memory, CPU, or
//! that) leaves the instance unusable and [`crate::ConnectorInstance`]
//! refuses further calls; a guest that returns promptly after a refusal
//! leaves it usable.
//!
//! # CPU time
//!
//! Wasmtime's epoch counter is advanced every [`EPOCH_TICK`] by one thread per
//! engine ([`EpochTicker`]). Epochs measure wall time, and a call also waits on
//! the network; so the host meters each call itself: the time its future
//! spends being polled, i.e. running guest code and the host code it calls
//! synchronously, and not the time it waits for I/O. When an epoch deadline
//! passes, the store's callback compares that metered time with the limit and
//! either traps or sets the next deadline. Deadlines are at most
//! [`CPU_SLICE`] apart, and a call that has run a whole slice without waiting
//! yields to the async executor, so a busy guest cannot hold a worker thread
//! for the whole of its budget. The limit is enforced to within about one
//! tick (plus the time until the guest's next function entry or loop
//! header). The measure is wall time while running: on an overloaded machine
//! where the OS preempts the thread, it can count more than the CPU used.

mod cpu;
mod memory;

use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub use cpu::EpochTicker;
pub(crate) use cpu::{CpuBudget, CpuMeter, metered};
pub(crate) use memory::SandboxLimiter;

/// How often the engine's epoch advances.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The longest a guest runs between two checks of its CPU budget, and
/// without yielding to the async executor.
pub const CPU_SLICE: Duration = Duration::from_millis(100);

const MIB: u64 = 1024 * 1024;

/// Default for [`Limits::memory_bytes`]: 128 MiB.
pub const DEFAULT_MEMORY_BYTES: u64 = 128 * MIB;
/// Default for [`Limits::table_elements`].
pub const DEFAULT_TABLE_ELEMENTS: u64 = 100_000;
/// Default for [`Limits::instances`].
pub const DEFAULT_INSTANCES: u32 = 50;
/// Default for [`Limits::cpu_time_per_call`]: 30 s.
pub const DEFAULT_CPU_TIME_PER_CALL: Duration = Duration::from_secs(30);
/// Default for [`Limits::requests_per_call`].
pub const DEFAULT_REQUESTS_PER_CALL: u32 = 64;
/// Default for [`Limits::response_body_bytes`]: 64 MiB.
pub const DEFAULT_RESPONSE_BODY_BYTES: u64 = 64 * MIB;
/// Default for [`Limits::records_per_page`].
pub const DEFAULT_RECORDS_PER_PAGE: u64 = 10_000;
/// Default for [`Limits::bytes_per_page`]: 64 MiB.
pub const DEFAULT_BYTES_PER_PAGE: u64 = 64 * MIB;
/// Default for [`Limits::concurrent_connections`].
pub const DEFAULT_CONCURRENT_CONNECTIONS: u32 = 8;
/// Default for [`Limits::host_resources`].
pub const DEFAULT_HOST_RESOURCES: u32 = 1024;
/// Default for [`Limits::header_bytes`]: 16 KiB, the size common HTTP
/// servers accept for a request's whole header block.
pub const DEFAULT_HEADER_BYTES: u64 = 16 * 1024;
/// Default for [`Limits::request_body_bytes`]: 1 MiB.
pub const DEFAULT_REQUEST_BODY_BYTES: u64 = MIB;
/// Default for [`Limits::request_bytes_per_call`]: 8 MiB.
pub const DEFAULT_REQUEST_BYTES_PER_CALL: u64 = 8 * MIB;
/// Default for [`Limits::state_bytes`]: 1 MiB.
pub const DEFAULT_STATE_BYTES: u64 = MIB;
/// Default for [`Limits::call_time`]: 5 minutes.
pub const DEFAULT_CALL_TIME: Duration = Duration::from_secs(300);

/// What one connector instance may use.
///
/// The defaults fit the CircleCI connector with a wide margin: it runs in a
/// couple of MiB of linear memory, makes at most 32 requests per call
/// (sequentially), sends no request body, holds a few dozen handles, reads
/// bodies its own bound caps at 32 MiB, and returns at most about 500
/// records and a state of a few KiB per page; a call's guest code runs for
/// milliseconds, and a whole call for as long as its requests take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory, in bytes, summed over all the instance's memories
    /// (each also capped at this). Default 128 MiB.
    pub memory_bytes: u64,
    /// Elements of any one table. Default 100,000.
    pub table_elements: u64,
    /// Core instances, and separately tables and memories, per store
    /// (a component is several core instances). Default 50.
    pub instances: u32,
    /// Time one call may spend running (not waiting on I/O). Default 30 s.
    /// `Duration::ZERO` refuses every call at its first instruction.
    /// Enforced only when the loader has [`crate::HostConfig::enforce_cpu_time`].
    pub cpu_time_per_call: Duration,
    /// Requests one call (`validate`, `fetch`, …) may make, refused or not.
    /// Default 64 (the CircleCI connector makes at most 32).
    pub requests_per_call: u32,
    /// Bytes of one response body. Default 64 MiB.
    pub response_body_bytes: u64,
    /// Records in one page. Default 10,000.
    pub records_per_page: u64,
    /// Bytes of one page: its records, state and notices. Default 64 MiB.
    pub bytes_per_page: u64,
    /// Connections this instance has open at once: each counts from its
    /// start until it closes, busy with a request or idle in the keep-alive
    /// pool (`pool`). A request that finds none free closes
    /// the oldest idle one; when none is idle it waits as long as the
    /// connect timeout, then fails with this limit. Default 8.
    pub concurrent_connections: u32,
    /// Handles the instance may hold in the host at once (entries of its
    /// resource table: header maps, requests, responses, bodies, streams,
    /// pollables), across calls. Default 1,024.
    pub host_resources: u32,
    /// Bytes one header map (`fields`) may hold, as wasmtime-wasi-http
    /// counts them (names and values plus their in-memory overhead).
    /// Default 16 KiB.
    pub header_bytes: u64,
    /// Bytes of one request's body. Default 1 MiB.
    pub request_body_bytes: u64,
    /// Bytes of request bodies one call may send in all. Default 8 MiB.
    pub request_bytes_per_call: u64,
    /// Bytes of the state one page returns. The host saves it after the
    /// page and must be able to read it back: the state file's own bound
    /// ([`crate::checkpoint::MAX_STATE_FILE_BYTES`]) is checked when it is
    /// written. Default 1 MiB.
    pub state_bytes: u64,
    /// Wall-clock time one call may take, waiting included (a guest that
    /// blocks on a request it never sends, or an upstream that trickles a
    /// byte a second, is stopped here). Default 5 minutes.
    pub call_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: DEFAULT_MEMORY_BYTES,
            table_elements: DEFAULT_TABLE_ELEMENTS,
            instances: DEFAULT_INSTANCES,
            cpu_time_per_call: DEFAULT_CPU_TIME_PER_CALL,
            requests_per_call: DEFAULT_REQUESTS_PER_CALL,
            response_body_bytes: DEFAULT_RESPONSE_BODY_BYTES,
            records_per_page: DEFAULT_RECORDS_PER_PAGE,
            bytes_per_page: DEFAULT_BYTES_PER_PAGE,
            concurrent_connections: DEFAULT_CONCURRENT_CONNECTIONS,
            host_resources: DEFAULT_HOST_RESOURCES,
            header_bytes: DEFAULT_HEADER_BYTES,
            request_body_bytes: DEFAULT_REQUEST_BODY_BYTES,
            request_bytes_per_call: DEFAULT_REQUEST_BYTES_PER_CALL,
            state_bytes: DEFAULT_STATE_BYTES,
            call_time: DEFAULT_CALL_TIME,
        }
    }
}

impl Limits {
    /// The configured value of one limit, for messages (`128 MiB`, `30s`, `64`).
    pub fn value_of(&self, limit: LimitKind) -> String {
        match limit {
            LimitKind::Memory => bytes(self.memory_bytes),
            LimitKind::TableElements => self.table_elements.to_string(),
            LimitKind::Instances => self.instances.to_string(),
            LimitKind::CpuTime => format!("{:?}", self.cpu_time_per_call),
            LimitKind::RequestsPerCall => self.requests_per_call.to_string(),
            LimitKind::ResponseBody => bytes(self.response_body_bytes),
            LimitKind::RecordsPerPage => self.records_per_page.to_string(),
            LimitKind::BytesPerPage => bytes(self.bytes_per_page),
            LimitKind::Connections => self.concurrent_connections.to_string(),
            LimitKind::HostResources => self.host_resources.to_string(),
            LimitKind::HeaderBytes => bytes(self.header_bytes),
            LimitKind::RequestBody => bytes(self.request_body_bytes),
            LimitKind::RequestBytesPerCall => bytes(self.request_bytes_per_call),
            LimitKind::StateBytes => bytes(self.state_bytes),
            LimitKind::CallTime => format!("{:?}", self.call_time),
        }
    }

    /// The most host memory the instance's resources can hold at once
    /// beyond connection buffers: every handle a header map of
    /// `header_bytes` (see the module docs).
    pub fn host_memory_bound(&self) -> u64 {
        u64::from(self.host_resources).saturating_mul(self.header_bytes)
    }

    /// A [`LimitExceeded`] for `limit`, with its configured value.
    pub fn exceeded(&self, limit: LimitKind, detail: impl Into<String>) -> LimitExceeded {
        LimitExceeded {
            limit,
            value: self.value_of(limit),
            detail: detail.into(),
        }
    }
}

/// Formats a byte count for people: whole MiB or KiB when exact.
pub fn bytes(n: u64) -> String {
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// Which limit was exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Linear memory of one instance ([`Limits::memory_bytes`]).
    Memory,
    /// Table elements of one instance.
    TableElements,
    /// Instances a store may hold.
    Instances,
    /// CPU time of one call ([`Limits::cpu_time_per_call`]).
    CpuTime,
    /// Requests one call may make ([`Limits::requests_per_call`]).
    RequestsPerCall,
    /// Size of one response body ([`Limits::response_body_bytes`]).
    ResponseBody,
    /// Records in one page ([`Limits::records_per_page`]).
    RecordsPerPage,
    /// Size of one page ([`Limits::bytes_per_page`]).
    BytesPerPage,
    /// Connections open at once ([`Limits::concurrent_connections`]).
    Connections,
    /// Handles an instance holds in the host ([`Limits::host_resources`]).
    HostResources,
    /// Size of one header map ([`Limits::header_bytes`]).
    HeaderBytes,
    /// Size of one request body ([`Limits::request_body_bytes`]).
    RequestBody,
    /// Request body bytes of one call ([`Limits::request_bytes_per_call`]).
    RequestBytesPerCall,
    /// Size of one page's state ([`Limits::state_bytes`]).
    StateBytes,
    /// Wall-clock time of one call ([`Limits::call_time`]).
    CallTime,
}

impl LimitKind {
    /// A stable, machine-readable name.
    pub fn name(self) -> &'static str {
        match self {
            LimitKind::Memory => "memory",
            LimitKind::TableElements => "table-elements",
            LimitKind::Instances => "instances",
            LimitKind::CpuTime => "cpu-time",
            LimitKind::RequestsPerCall => "requests-per-call",
            LimitKind::ResponseBody => "response-body",
            LimitKind::RecordsPerPage => "records-per-page",
            LimitKind::BytesPerPage => "bytes-per-page",
            LimitKind::Connections => "connections",
            LimitKind::HostResources => "host-resources",
            LimitKind::HeaderBytes => "header-bytes",
            LimitKind::RequestBody => "request-body",
            LimitKind::RequestBytesPerCall => "request-bytes-per-call",
            LimitKind::StateBytes => "state-bytes",
            LimitKind::CallTime => "call-time",
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A limit that was exceeded: which, its configured value, and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitExceeded {
    /// Which limit.
    pub limit: LimitKind,
    /// Its configured value, with its unit.
    pub value: String,
    /// What happened.
    pub detail: String,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} limit of {} exceeded: {}",
            self.limit, self.value, self.detail
        )
    }
}

impl std::error::Error for LimitExceeded {}

/// The first limit hit during the current call, shared by everything that
/// enforces one (the limiter, the outbound hooks and their bodies, the CPU
/// callback) and read by the instance when the call ends.
#[derive(Debug, Default)]
pub(crate) struct Tripwire(Mutex<Option<LimitExceeded>>);

impl Tripwire {
    fn lock(&self) -> MutexGuard<'_, Option<LimitExceeded>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a hit; the first one of a call is its cause.
    pub(crate) fn trip(&self, hit: LimitExceeded) {
        self.lock().get_or_insert(hit);
    }

    pub(crate) fn take(&self) -> Option<LimitExceeded> {
        self.lock().take()
    }

    /// The hit of the current call, if any, left in place.
    fn peek(&self) -> Option<LimitExceeded> {
        self.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wasmtime::{Engine, ResourceLimiter, Store};

    use super::cpu::ticks_for;
    use super::*;

    /// `(module (func (export "spin") (loop (br 0))))`: never returns.
    const SPIN: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: [] -> []
        0x03, 0x02, 0x01, 0x00, // one function of type 0
        0x07, 0x08, 0x01, 0x04, b's', b'p', b'i', b'n', 0x00, 0x00, // export "spin"
        0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop br 0
    ];

    fn epoch_engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        Engine::new(&config).unwrap()
    }

    #[test]
    fn deadlines_are_whole_ticks_rounded_up() {
        assert_eq!(ticks_for(Duration::ZERO), 0);
        assert_eq!(ticks_for(Duration::from_nanos(1)), 1);
        assert_eq!(ticks_for(EPOCH_TICK), 1);
        assert_eq!(ticks_for(EPOCH_TICK + Duration::from_nanos(1)), 2);
        assert_eq!(ticks_for(DEFAULT_CPU_TIME_PER_CALL), 3000);
        assert_eq!(ticks_for(Duration::MAX), u64::MAX);
        assert_eq!(ticks_for(CPU_SLICE), 10);
    }

    #[test]
    fn the_ticker_advances_the_epoch_and_stops_when_dropped() {
        let engine = epoch_engine();
        let ticker = EpochTicker::start(&engine, Duration::from_millis(1)).unwrap();
        let counter = Arc::downgrade(&ticker.ticks);
        // Eventually ticks; no bound on how soon.
        while ticker.ticks() < 3 {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(ticker);
        // Dropping joined the thread, which held the other reference.
        assert!(counter.upgrade().is_none(), "the ticker thread is gone");
    }

    #[test]
    fn limits_name_themselves_and_their_values() {
        let limits = Limits::default();
        assert_eq!(limits.value_of(LimitKind::Memory), "128 MiB");
        assert_eq!(limits.value_of(LimitKind::CpuTime), "30s");
        assert_eq!(limits.value_of(LimitKind::RequestsPerCall), "64");
        assert_eq!(bytes(1536), "1536 bytes");
        assert_eq!(bytes(2048), "2 KiB");
        let hit = limits.exceeded(LimitKind::ResponseBody, "a body of 65 MiB");
        assert_eq!(
            hit.to_string(),
            "response-body limit of 64 MiB exceeded: a body of 65 MiB"
        );
    }

    #[test]
    fn the_limiter_caps_the_sum_of_memories_and_traps() {
        let tripwire = Arc::new(Tripwire::default());
        let limits = Limits {
            memory_bytes: 10 * 65536,
            ..Limits::default()
        };
        let mut limiter = SandboxLimiter::new(&limits, tripwire.clone());
        assert!(limiter.memory_growing(0, 4 * 65536, None).unwrap());
        assert!(limiter.memory_growing(0, 4 * 65536, None).unwrap());
        assert_eq!(limiter.memory_in_use(), 8 * 65536);
        // The module's own maximum fails the grow without a trap.
        assert!(
            !limiter
                .memory_growing(4 * 65536, 5 * 65536, Some(4 * 65536))
                .unwrap()
        );
        assert!(tripwire.take().is_none());
        let err = limiter
            .memory_growing(4 * 65536, 7 * 65536, None)
            .unwrap_err();
        assert_eq!(
            err.downcast_ref::<LimitExceeded>().unwrap().limit,
            LimitKind::Memory
        );
        assert_eq!(tripwire.take().unwrap().limit, LimitKind::Memory);
        assert_eq!(limiter.memory_in_use(), 8 * 65536);
        assert!(limiter.table_growing(0, 1000, None).unwrap());
        assert!(limiter.table_growing(0, 200_000, None).is_err());
    }

    /// The CPU limit stops a guest that loops forever: this test can only
    /// finish if the deadline machinery interrupts the loop.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_spinning_guest_is_stopped_by_its_cpu_budget() {
        let engine = epoch_engine();
        let _ticker = EpochTicker::start(&engine, EPOCH_TICK).unwrap();
        let module = wasmtime::Module::new(&engine, SPIN).unwrap();
        let mut store = Store::new(&engine, ());
        let limits = Limits {
            cpu_time_per_call: Duration::from_millis(50),
            ..Limits::default()
        };
        let meter = Arc::new(CpuMeter::default());
        let tripwire = Arc::new(Tripwire::default());
        let budget = CpuBudget::install(&mut store, &limits, meter.clone(), tripwire.clone());
        budget.arm(&mut store);
        let instance = wasmtime::Instance::new_async(&mut store, &module, &[])
            .await
            .unwrap();
        let spin = instance
            .get_typed_func::<(), ()>(&mut store, "spin")
            .unwrap();
        budget.arm(&mut store);
        let err = metered(&meter, spin.call_async(&mut store, ()))
            .await
            .unwrap_err();
        let hit = err
            .downcast_ref::<LimitExceeded>()
            .expect("the limit error");
        assert_eq!(hit.limit, LimitKind::CpuTime);
        assert_eq!(hit.value, "50ms");
        assert_eq!(tripwire.take().unwrap().limit, LimitKind::CpuTime);
        assert!(
            meter.spent() >= Duration::from_millis(50),
            "it ran its whole budget first"
        );
    }

    /// A budget longer than a slice: the spinning guest yields to the
    /// executor every slice (its future returns `Pending` and is polled
    /// again), and is still stopped at its budget.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_long_budget_is_spent_in_slices_that_yield() {
        let engine = epoch_engine();
        let _ticker = EpochTicker::start(&engine, EPOCH_TICK).unwrap();
        let module = wasmtime::Module::new(&engine, SPIN).unwrap();
        let mut store = Store::new(&engine, ());
        let limits = Limits {
            cpu_time_per_call: Duration::from_secs(1),
            ..Limits::default()
        };
        let meter = Arc::new(CpuMeter::default());
        let budget = CpuBudget::install(&mut store, &limits, meter.clone(), Arc::default());
        budget.arm(&mut store);
        let instance = wasmtime::Instance::new_async(&mut store, &module, &[])
            .await
            .unwrap();
        let spin = instance
            .get_typed_func::<(), ()>(&mut store, "spin")
            .unwrap();
        budget.arm(&mut store);
        let mut polls = 0;
        let mut call = std::pin::pin!(metered(&meter, spin.call_async(&mut store, ())));
        let err = std::future::poll_fn(|cx| {
            polls += 1;
            call.as_mut().poll(cx)
        })
        .await
        .unwrap_err();
        assert_eq!(
            err.downcast_ref::<LimitExceeded>().unwrap().limit,
            LimitKind::CpuTime
        );
        assert!(
            polls >= 2,
            "the guest yielded at least once ({polls} polls)"
        );
        assert!(meter.spent() >= Duration::from_secs(1));
    }
}
