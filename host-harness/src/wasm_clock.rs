//! Time spent running the guest's own wasm code, apart from the host
//! functions it calls: what a benchmark compares with the same logic
//! compiled natively.
//!
//! The CPU limit's meter ([`crate::limits`]) counts a call's guest code and
//! the host code it calls synchronously (wasi:http bookkeeping, copying
//! bodies in), which is right for a budget but not for asking how fast the
//! CircleCI logic itself runs in wasm. This clock is told every transition
//! between wasm and the host (wasmtime's call hook) and adds up only the
//! time on the wasm side. It costs two clock reads per host call, so it is
//! off unless [`crate::HostConfig::measure_wasm_time`] asks for it.

use std::time::{Duration, Instant};

use wasmtime::CallHook;

/// The running total of one store's time in wasm code.
#[derive(Debug, Default)]
pub struct WasmClock {
    total: Duration,
    /// When the guest last started running (entered, or got control back
    /// from a host function), if it is running now.
    since: Option<Instant>,
}

impl WasmClock {
    /// Records one transition.
    pub fn on(&mut self, hook: CallHook) {
        self.on_at(hook, Instant::now());
    }

    fn on_at(&mut self, hook: CallHook, now: Instant) {
        if hook.entering_host() {
            if let Some(since) = self.since.take() {
                self.total += now.saturating_duration_since(since);
            }
        } else {
            self.since = Some(now);
        }
    }

    /// Time spent in wasm code so far (not counting a stretch in progress).
    pub fn total(&self) -> Duration {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_wasm_side_counts() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut clock = WasmClock::default();
        clock.on_at(CallHook::CallingWasm, at(0));
        clock.on_at(CallHook::CallingHost, at(3)); // 3 ms of wasm
        clock.on_at(CallHook::ReturningFromHost, at(10)); // 7 ms in the host
        clock.on_at(CallHook::CallingHost, at(12)); // 2 ms of wasm
        clock.on_at(CallHook::ReturningFromHost, at(20));
        clock.on_at(CallHook::ReturningFromWasm, at(21)); // 1 ms of wasm
        assert_eq!(clock.total(), Duration::from_millis(6));
        // Leaving twice (a trap unwinding) adds nothing more.
        clock.on_at(CallHook::ReturningFromWasm, at(30));
        assert_eq!(clock.total(), Duration::from_millis(6));
    }
}
