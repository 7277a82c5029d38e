//! Linear memory, tables and instances: the store's [`ResourceLimiter`],
//! which traps (naming the limit) rather than letting a grow fail quietly.

use std::sync::Arc;

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

use super::{LimitKind, Limits, Tripwire, bytes};

/// The store's [`ResourceLimiter`]: wasmtime's [`StoreLimits`] for each
/// memory and table and the instance counts, plus the sum of all linear
/// memories. Going over a limit traps (rather than failing the `memory.grow`)
/// so the call ends with an error naming it; a guest's own declared maximum
/// still fails the grow as the spec says.
pub(crate) struct SandboxLimiter {
    inner: StoreLimits,
    limits: Limits,
    memory_limit: usize,
    table_limit: usize,
    memory_in_use: usize,
    last_growth: Option<(usize, usize)>,
    tripwire: Arc<Tripwire>,
}

impl SandboxLimiter {
    pub(crate) fn new(limits: &Limits, tripwire: Arc<Tripwire>) -> Self {
        let memory_limit = usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX);
        let table_limit = usize::try_from(limits.table_elements).unwrap_or(usize::MAX);
        let count = usize::try_from(limits.instances).unwrap_or(usize::MAX);
        let inner = StoreLimitsBuilder::new()
            .memory_size(memory_limit)
            .table_elements(table_limit)
            .instances(count)
            .tables(count)
            .memories(count)
            .trap_on_grow_failure(false)
            .build();
        SandboxLimiter {
            inner,
            limits: limits.clone(),
            memory_limit,
            table_limit,
            memory_in_use: 0,
            last_growth: None,
            tripwire,
        }
    }

    /// Bytes of linear memory the instance holds, over all its memories.
    pub(crate) fn memory_in_use(&self) -> usize {
        self.memory_in_use
    }

    fn refuse(&self, limit: LimitKind, detail: String) -> wasmtime::Error {
        let hit = self.limits.exceeded(limit, detail);
        self.tripwire.trip(hit.clone());
        wasmtime::Error::new(hit)
    }
}

impl ResourceLimiter for SandboxLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self
            .memory_in_use
            .saturating_sub(current)
            .saturating_add(desired);
        if desired > self.memory_limit || total > self.memory_limit {
            let what = if current == 0 {
                "to instantiate"
            } else {
                "while running"
            };
            return Err(self.refuse(
                LimitKind::Memory,
                format!(
                    "the connector needed {} of linear memory {what}",
                    bytes(total as u64)
                ),
            ));
        }
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if allowed {
            self.memory_in_use = total;
            self.last_growth = Some((current, desired));
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        if let Some((current, desired)) = self.last_growth.take() {
            self.memory_in_use = self
                .memory_in_use
                .saturating_sub(desired)
                .saturating_add(current);
        }
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_limit {
            let what = if current == 0 {
                "to instantiate"
            } else {
                "while running"
            };
            return Err(self.refuse(
                LimitKind::TableElements,
                format!("the connector needed a table of {desired} elements {what}"),
            ));
        }
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}
