//! Ids of generated records that can be looked up without an index.
//!
//! Pipelines, workflows and jobs are far too many to keep an id → record map for (a big config has
//! millions of jobs), so their UUIDs *are* their locations: `(kind, tenant, project, pipeline ordinal,
//! workflow, job)` plus a zero check field, encrypted with a keyed Feistel permutation and printed as a
//! version 4 UUID. Decoding an id is a few hash rounds; a random or foreign id decodes to a non-zero
//! check field (chance of a false match: 2^-44) and is "not found". Encryption is a bijection, so ids
//! are unique, and they look as random as CircleCI's.

use super::rng::mix64;

/// What kind of record an id names; part of the encrypted payload so kinds never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pipeline = 1,
    Workflow = 2,
    Job = 3,
}

/// Where a record lives. Fields a kind does not use are 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locator {
    pub kind: Kind,
    pub tenant: u32,
    pub project: u32,
    pub ordinal: u32,
    pub workflow: u8,
    pub job: u8,
}

/// Field widths of the 122-bit payload (a v4 UUID has 122 free bits).
const TENANT_BITS: u32 = 14;
const PROJECT_BITS: u32 = 14;
const ORDINAL_BITS: u32 = 28;
const KIND_BITS: u32 = 4;
/// Largest tenant index, project index and pipeline ordinal an id can carry.
pub const MAX_TENANTS: usize = 1 << TENANT_BITS;
pub const MAX_PROJECTS: usize = 1 << PROJECT_BITS;
pub const MAX_ORDINAL: usize = 1 << ORDINAL_BITS;

const HALF_BITS: u32 = 61;
const HALF_MASK: u64 = (1 << HALF_BITS) - 1;
const ROUNDS: usize = 6;

/// Encrypts and decrypts locators; keyed from the simulator seed.
#[derive(Debug, Clone)]
pub struct IdCodec {
    keys: [u64; ROUNDS],
}

impl IdCodec {
    pub fn new(seed: u64) -> IdCodec {
        let mut keys = [0; ROUNDS];
        for (i, key) in keys.iter_mut().enumerate() {
            *key = mix64(seed ^ 0x6964_636f_6465_6300 ^ (i as u64).wrapping_mul(0x9E37_79B9));
        }
        IdCodec { keys }
    }

    pub fn encode(&self, at: Locator) -> String {
        // Two 61-bit halves: hi = kind(4) tenant(14) project(14) ordinal(28) check(1),
        // lo = workflow(8) job(8) check(45).
        // Fields are masked to their widths (the server refuses configs that would overflow them).
        let mask = |value: u32, bits: u32| u64::from(value) & ((1 << bits) - 1);
        let hi = (at.kind as u64) << (TENANT_BITS + PROJECT_BITS + ORDINAL_BITS + 1)
            | mask(at.tenant, TENANT_BITS) << (PROJECT_BITS + ORDINAL_BITS + 1)
            | mask(at.project, PROJECT_BITS) << (ORDINAL_BITS + 1)
            | mask(at.ordinal, ORDINAL_BITS) << 1;
        let lo = u64::from(at.workflow) << 53 | u64::from(at.job) << 45;
        let (hi, lo) = self.encrypt(hi & HALF_MASK, lo & HALF_MASK);
        format_uuid(hi, lo)
    }

    pub fn decode(&self, id: &str) -> Option<Locator> {
        let (hi, lo) = parse_uuid(id)?;
        let (hi, lo) = self.decrypt(hi, lo);
        // The check field: the low 45 bits of `lo` and the lowest bit of `hi` are always zero.
        if lo & ((1 << 45) - 1) != 0 || hi & 1 != 0 {
            return None;
        }
        let field = |shift: u32, bits: u32| (hi >> shift) & ((1 << bits) - 1);
        let kind = match field(TENANT_BITS + PROJECT_BITS + ORDINAL_BITS + 1, KIND_BITS) {
            1 => Kind::Pipeline,
            2 => Kind::Workflow,
            3 => Kind::Job,
            _ => return None,
        };
        Some(Locator {
            kind,
            tenant: field(PROJECT_BITS + ORDINAL_BITS + 1, TENANT_BITS) as u32,
            project: field(ORDINAL_BITS + 1, PROJECT_BITS) as u32,
            ordinal: field(1, ORDINAL_BITS) as u32,
            workflow: (lo >> 53) as u8,
            job: (lo >> 45) as u8,
        })
    }

    fn round(&self, i: usize, half: u64) -> u64 {
        mix64(half ^ self.keys[i]) & HALF_MASK
    }

    fn encrypt(&self, mut l: u64, mut r: u64) -> (u64, u64) {
        for i in 0..ROUNDS {
            (l, r) = (r, l ^ self.round(i, r));
        }
        (l, r)
    }

    fn decrypt(&self, mut l: u64, mut r: u64) -> (u64, u64) {
        for i in (0..ROUNDS).rev() {
            (l, r) = (r ^ self.round(i, l), l);
        }
        (l, r)
    }
}

/// Two 61-bit halves into the canonical text of a version 4 UUID (version and variant bits fixed).
fn format_uuid(a: u64, b: u64) -> String {
    // 122 payload bits: 60 go into the high word around the version nibble, 62 into the low word.
    let payload_hi = a >> 1; // 60 bits
    let payload_lo = (a & 1) << 61 | b; // 62 bits
    let hi = (payload_hi >> 12) << 16 | 0x4 << 12 | (payload_hi & 0xFFF);
    let lo = 0b10 << 62 | payload_lo;
    uuid_text(hi, lo)
}

/// The canonical 8-4-4-4-12 text of a UUID's two halves.
pub(crate) fn uuid_text(hi: u64, lo: u64) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

/// The inverse of [`format_uuid`]; `None` for anything that is not a canonical v4 UUID.
fn parse_uuid(text: &str) -> Option<(u64, u64)> {
    let bytes = text.as_bytes();
    if bytes.len() != 36 || [8, 13, 18, 23].iter().any(|&i| bytes[i] != b'-') {
        return None;
    }
    let mut value: u128 = 0;
    for (i, &c) in bytes.iter().enumerate() {
        if [8, 13, 18, 23].contains(&i) {
            continue;
        }
        let digit = (c as char).to_digit(16)?;
        value = value << 4 | u128::from(digit);
    }
    let hi = (value >> 64) as u64;
    let lo = value as u64;
    if (hi >> 12) & 0xF != 4 || lo >> 62 != 0b10 {
        return None;
    }
    let payload_hi = (hi >> 16) << 12 | (hi & 0xFFF);
    let payload_lo = lo & ((1 << 62) - 1);
    let a = payload_hi << 1 | payload_lo >> 61;
    let b = payload_lo & HALF_MASK;
    Some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_foreign_ids() {
        let codec = IdCodec::new(42);
        let at = Locator {
            kind: Kind::Job,
            tenant: 3,
            project: 9_999,
            ordinal: (MAX_ORDINAL - 1) as u32,
            workflow: 15,
            job: 200,
        };
        let id = codec.encode(at);
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(codec.decode(&id), Some(at));
        assert_eq!(codec.decode(&id.to_uppercase()), Some(at));
        assert_eq!(IdCodec::new(43).decode(&id), None);
        assert_eq!(codec.decode("00000000-0000-4000-8000-000000000000"), None);
        assert_eq!(codec.decode("not-a-uuid"), None);
        let mut rng = crate::sim::rng::Rng::new(1);
        for _ in 0..10_000 {
            assert_eq!(codec.decode(&rng.uuid()), None);
        }
        let ids: std::collections::HashSet<String> = (0..1000)
            .map(|i| codec.encode(Locator { ordinal: i, ..at }))
            .collect();
        assert_eq!(ids.len(), 1000);
    }
}
