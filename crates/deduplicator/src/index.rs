//! A sublinear index of 64-bit fingerprints for Hamming-radius search (multi-index hashing).
//!
//! The 64 bits are cut into four 16-bit blocks and the index keeps one table per block. By
//! the (generalised) pigeonhole principle, two fingerprints at most `k` bits apart agree
//! within a few bits on at least one block (see [`block_radii`]); so a search probes, in each
//! table, the buckets of every key within that many bits of the query's block (1, 17, 137 or
//! 697 keys for block radius 0-3), and checks the full distance of each entry found. Nothing
//! within the radius is missed, and only about `probes * n / 65536` entries are looked at
//! instead of `n`.
//!
//! Memory: each table stores, per fingerprint, only the 48 bits outside its block (its block
//! is the bucket number), as six bytes in one array sorted by bucket (counting sort) with a
//! bucket-offset array. Four tables: 24 bytes per fingerprint, plus a
//! tombstone bit per entry and per table, and 256 KiB of offsets per table. The index does
//! not know which items carry a fingerprint: the store finds them by value (an SQL index), so
//! nothing else is kept per item.
//!
//! Inserts go to a small per-table chained hash on the same 16-bit keys, merged into the
//! sorted arrays when it reaches an eighth of them (amortised O(1) per insert). Removal (an
//! item updated in place, or fallen out of the time window) marks a tombstone; merges drop
//! them. The index is a multiset: a fingerprint inserted twice must be removed twice.

const BLOCKS: usize = 4;
const BLOCK_BITS: u32 = 16;
const BUCKETS: usize = 1 << BLOCK_BITS;
/// No delta entry.
const NIL: u32 = u32::MAX;
/// The delta part of a table is merged when it holds this many entries and at least an
/// eighth of the sorted part.
const MIN_MERGE: usize = 4096;

/// Largest supported search radius: block radius 3.
pub const MAX_RADIUS: u32 = 15;

/// The radius to search each table's block with, for a search of `radius` bits (`None`: the
/// table need not be searched). Generalised pigeonhole: if two fingerprints differ in at most
/// `radius` bits, some block `t` differs in at most `r[t]` bits whenever the `r[t] + 1` sum to
/// more than `radius`. Spreading `radius + 1` as evenly as possible over the four blocks gives
/// the fewest probes: radius 10 searches blocks at 2, 2, 2 and 1 bits (137 + 137 + 137 + 17
/// keys), radius 7 at 1 bit each (17 keys per block).
fn block_radii(radius: u32) -> [Option<u32>; BLOCKS] {
    let total = radius + 1;
    let (base, extra) = (total / BLOCKS as u32, total % BLOCKS as u32);
    std::array::from_fn(|t| (base + u32::from((t as u32) < extra)).checked_sub(1))
}

/// Splits a fingerprint for table `t`: the 16-bit key and the other 48 bits.
#[inline]
fn split(fp: u64, t: usize) -> (usize, u64) {
    let r = fp.rotate_right(BLOCK_BITS * t as u32);
    ((r & 0xffff) as usize, r >> 16)
}

#[inline]
fn join(key: usize, rest: u64, t: usize) -> u64 {
    ((rest << 16) | key as u64).rotate_left(BLOCK_BITS * t as u32)
}

/// Set bits of every 16-bit value.
static POPCOUNT16: [u8; 1 << 16] = {
    let mut t = [0u8; 1 << 16];
    let mut i = 0;
    while i < t.len() {
        t[i] = (i as u32).count_ones() as u8;
        i += 1;
    }
    t
};

#[inline]
fn pack(rest: u64) -> [u16; 3] {
    [rest as u16, (rest >> 16) as u16, (rest >> 32) as u16]
}

#[inline]
fn unpack(e: [u16; 3]) -> u64 {
    u64::from(e[0]) | u64::from(e[1]) << 16 | u64::from(e[2]) << 32
}

#[derive(Debug, Clone, Copy)]
struct DeltaEntry {
    fp: u64,
    next: u32,
    alive: bool,
}

#[derive(Debug, Clone)]
struct Table {
    t: usize,
    /// `offsets[k]..offsets[k + 1]` are bucket `k`'s entries in `rest`.
    offsets: Vec<u32>,
    /// The 48 bits outside the block, as three 16-bit words (6 bytes, one memory stream).
    rest: Vec<[u16; 3]>,
    /// Tombstones over the sorted entries.
    dead: Vec<u64>,
    dead_count: usize,
    /// Delta: bucket heads (allocated on first insert) and chained entries.
    heads: Vec<u32>,
    delta: Vec<DeltaEntry>,
    delta_dead: usize,
}

impl Table {
    fn build(t: usize, fps: &[u64]) -> Table {
        let mut counts = vec![0u32; BUCKETS + 1];
        for &fp in fps {
            counts[split(fp, t).0 + 1] += 1;
        }
        for k in 0..BUCKETS {
            counts[k + 1] += counts[k];
        }
        let offsets = counts.clone();
        let mut next = counts;
        let mut entries = vec![[0u16; 3]; fps.len()];
        for &fp in fps {
            let (key, rest) = split(fp, t);
            let at = next[key] as usize;
            next[key] += 1;
            entries[at] = pack(rest);
        }
        Table {
            t,
            offsets,
            rest: entries,
            dead: vec![0; fps.len().div_ceil(64)],
            dead_count: 0,
            heads: Vec::new(),
            delta: Vec::new(),
            delta_dead: 0,
        }
    }

    fn is_dead(&self, i: usize) -> bool {
        self.dead[i / 64] & (1 << (i % 64)) != 0
    }

    fn insert(&mut self, fp: u64) {
        if self.heads.is_empty() {
            self.heads = vec![NIL; BUCKETS];
        }
        let (key, _) = split(fp, self.t);
        let at = self.delta.len() as u32;
        self.delta.push(DeltaEntry { fp, next: self.heads[key], alive: true });
        self.heads[key] = at;
    }

    fn remove(&mut self, fp: u64) -> bool {
        let (key, rest) = split(fp, self.t);
        if !self.heads.is_empty() {
            let mut at = self.heads[key];
            while at != NIL {
                let e = &mut self.delta[at as usize];
                if e.alive && e.fp == fp {
                    e.alive = false;
                    self.delta_dead += 1;
                    return true;
                }
                at = e.next;
            }
        }
        let packed = pack(rest);
        for i in self.offsets[key] as usize..self.offsets[key + 1] as usize {
            if self.rest[i] == packed && !self.is_dead(i) {
                self.dead[i / 64] |= 1 << (i % 64);
                self.dead_count += 1;
                return true;
            }
        }
        false
    }

    fn live(&self) -> usize {
        self.rest.len() - self.dead_count + self.delta.len() - self.delta_dead
    }

    fn needs_merge(&self) -> bool {
        self.delta.len() >= MIN_MERGE && self.delta.len() * 8 >= self.rest.len()
            || self.dead_count >= MIN_MERGE && self.dead_count * 4 >= self.rest.len()
    }

    /// Every live fingerprint of the table.
    fn all(&self) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.live());
        for key in 0..BUCKETS {
            for i in self.offsets[key] as usize..self.offsets[key + 1] as usize {
                if !self.is_dead(i) {
                    out.push(join(key, unpack(self.rest[i]), self.t));
                }
            }
        }
        out.extend(self.delta.iter().filter(|e| e.alive).map(|e| e.fp));
        out
    }

    /// Pushes every fingerprint of bucket `key` within `radius` of `q` (whose rest is `q_rest`
    /// and whose key differs from `key` in `key_distance` bits).
    #[inline]
    fn scan(&self, key: usize, q: u64, q_rest: u64, key_distance: u32, radius: u32, out: &mut Vec<u64>) {
        let budget = radius - key_distance;
        let (start, end) = (self.offsets[key] as usize, self.offsets[key + 1] as usize);
        let qp = pack(q_rest);
        for (i, &e) in self.rest[start..end].iter().enumerate() {
            // Three table look-ups instead of a 64-bit population count: the portable
            // x86-64 target has no POPCNT instruction, and this loop is the search's cost.
            let d = u32::from(POPCOUNT16[(e[0] ^ qp[0]) as usize])
                + u32::from(POPCOUNT16[(e[1] ^ qp[1]) as usize])
                + u32::from(POPCOUNT16[(e[2] ^ qp[2]) as usize]);
            if d <= budget && !self.is_dead(start + i) {
                out.push(join(key, unpack(e), self.t));
            }
        }
        if !self.heads.is_empty() {
            let mut at = self.heads[key];
            while at != NIL {
                let e = &self.delta[at as usize];
                if e.alive && (e.fp ^ q).count_ones() <= radius {
                    out.push(e.fp);
                }
                at = e.next;
            }
        }
    }

    fn memory_bytes(&self) -> usize {
        self.offsets.capacity() * 4
            + self.rest.capacity() * 6
            + self.dead.capacity() * 8
            + self.heads.capacity() * 4
            + self.delta.capacity() * std::mem::size_of::<DeltaEntry>()
    }
}

/// Fingerprints searchable by Hamming radius. See the module documentation.
#[derive(Debug, Clone)]
pub struct HammingIndex {
    tables: Vec<Table>,
    /// Block-key masks with at most 3 bits set, by number of bits set.
    masks: Vec<u16>,
    /// `masks[..ends[r]]` are the masks with at most `r` bits set.
    ends: [usize; 4],
}

impl Default for HammingIndex {
    fn default() -> Self {
        HammingIndex::new()
    }
}

impl HammingIndex {
    pub fn new() -> HammingIndex {
        HammingIndex::from_fingerprints(&[])
    }

    /// Builds an index holding `fps` (the bulk load at start-up: one counting sort per table).
    pub fn from_fingerprints(fps: &[u64]) -> HammingIndex {
        let mut masks: Vec<u16> = (0..=u16::MAX).filter(|m| m.count_ones() <= 3).collect();
        masks.sort_by_key(|m| (m.count_ones(), *m));
        let mut ends = [0; 4];
        for (r, end) in ends.iter_mut().enumerate() {
            *end = masks.iter().filter(|m| m.count_ones() as usize <= r).count();
        }
        HammingIndex { tables: (0..BLOCKS).map(|t| Table::build(t, fps)).collect(), masks, ends }
    }

    /// Fingerprints held (counting repeats).
    pub fn len(&self) -> usize {
        self.tables[0].live()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn insert(&mut self, fp: u64) {
        for t in &mut self.tables {
            t.insert(fp);
        }
        if self.tables[0].needs_merge() {
            self.merge();
        }
    }

    /// Adds many fingerprints at once (a time bucket loaded from the store): one rebuild when
    /// they are many, single inserts when they are few.
    pub fn extend(&mut self, fps: &[u64]) {
        if fps.len() >= MIN_MERGE && fps.len() * 8 >= self.len() {
            let mut all = self.tables[0].all();
            all.extend_from_slice(fps);
            for t in 0..BLOCKS {
                self.tables[t] = Table::build(t, &all);
            }
        } else {
            for &fp in fps {
                self.insert(fp);
            }
        }
    }

    /// Removes one occurrence of `fp`; false if it was not there.
    pub fn remove(&mut self, fp: u64) -> bool {
        let mut found = false;
        for t in &mut self.tables {
            found = t.remove(fp);
        }
        if found && self.tables[0].needs_merge() {
            self.merge();
        }
        found
    }

    /// Rebuilds the sorted tables with the delta folded in and tombstones dropped.
    fn merge(&mut self) {
        let all = self.tables[0].all();
        for t in 0..BLOCKS {
            // One table at a time, so the peak is one extra table, not four.
            self.tables[t] = Table::build(t, &all);
        }
    }

    /// The distinct fingerprints within `radius` bits of `q`, in increasing order. `radius`
    /// is capped at [`MAX_RADIUS`].
    pub fn search(&self, q: u64, radius: u32, out: &mut Vec<u64>) {
        out.clear();
        let radius = radius.min(MAX_RADIUS);
        for (table, block_radius) in self.tables.iter().zip(block_radii(radius)) {
            let Some(r) = block_radius else { continue };
            let (key, rest) = split(q, table.t);
            for &m in &self.masks[..self.ends[r as usize]] {
                table.scan(key ^ m as usize, q, rest, m.count_ones(), radius, out);
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// Bytes of memory the index holds.
    pub fn memory_bytes(&self) -> usize {
        self.tables.iter().map(Table::memory_bytes).sum::<usize>() + self.masks.capacity() * 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        /// `fp` with `bits` distinct random bits flipped.
        fn flip(&mut self, fp: u64, bits: u32) -> u64 {
            let mut out = fp;
            while (out ^ fp).count_ones() < bits {
                out ^= 1 << (self.next() % 64);
            }
            out
        }
    }

    fn linear(fps: &[u64], q: u64, radius: u32) -> Vec<u64> {
        let mut v: Vec<u64> = fps.iter().copied().filter(|f| (f ^ q).count_ones() <= radius).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    #[test]
    fn finds_exactly_what_a_linear_scan_finds() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut fps: Vec<u64> = (0..20_000).map(|_| rng.next()).collect();
        // Clusters of near neighbours at every distance up to the radius and just beyond.
        let base: Vec<u64> = fps[..200].to_vec();
        for (i, &b) in base.iter().enumerate() {
            fps.push(rng.flip(b, (i % 17) as u32));
        }
        let half = fps.len() / 2;
        let mut index = HammingIndex::from_fingerprints(&fps[..half]);
        for &fp in &fps[half..] {
            index.insert(fp);
        }
        assert_eq!(index.len(), fps.len());
        let mut out = Vec::new();
        for radius in [0, 3, 4, 7, 10, 11, 12, 15] {
            for &b in &base {
                let q = rng.flip(b, 1);
                index.search(q, radius, &mut out);
                assert_eq!(out, linear(&fps, q, radius), "radius {radius}");
            }
        }
    }

    #[test]
    fn block_radii_cover_the_radius_with_the_fewest_probes() {
        assert_eq!(block_radii(0), [Some(0), None, None, None]);
        assert_eq!(block_radii(3), [Some(0); 4]);
        assert_eq!(block_radii(7), [Some(1); 4]);
        assert_eq!(block_radii(10), [Some(2), Some(2), Some(2), Some(1)]);
        assert_eq!(block_radii(15), [Some(3); 4]);
        for radius in 0..=MAX_RADIUS {
            let covered: u32 = block_radii(radius).iter().map(|r| r.map_or(0, |r| r + 1)).sum();
            assert_eq!(covered, radius + 1);
        }
    }

    #[test]
    fn near_misses_on_both_sides_of_the_radius() {
        let mut rng = Rng(7);
        let q = rng.next();
        let inside = rng.flip(q, 10);
        let outside = rng.flip(q, 11);
        let index = HammingIndex::from_fingerprints(&[inside, outside]);
        let mut out = Vec::new();
        index.search(q, 10, &mut out);
        assert_eq!(out, [inside]);
        index.search(q, 11, &mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn removal_and_merges_keep_the_multiset() {
        let mut rng = Rng(42);
        let fps: Vec<u64> = (0..3 * MIN_MERGE as u64).map(|_| rng.next()).collect();
        let mut index = HammingIndex::new();
        for &fp in &fps {
            index.insert(fp);
        }
        index.insert(fps[0]);
        assert_eq!(index.len(), fps.len() + 1);
        assert!(index.remove(fps[0]));
        let mut out = Vec::new();
        index.search(fps[0], 0, &mut out);
        assert_eq!(out, [fps[0]], "one copy is left");
        assert!(index.remove(fps[0]));
        assert!(!index.remove(fps[0]));
        index.search(fps[0], 0, &mut out);
        assert!(out.is_empty());
        for &fp in &fps[1..2 * MIN_MERGE] {
            assert!(index.remove(fp));
        }
        assert_eq!(index.len(), fps.len() - 2 * MIN_MERGE);
        for &fp in &fps[2 * MIN_MERGE..] {
            index.search(fp, 0, &mut out);
            assert_eq!(out, [fp]);
        }
    }

    #[test]
    fn stays_under_budget_per_fingerprint() {
        let mut rng = Rng(3);
        let fps: Vec<u64> = (0..200_000).map(|_| rng.next()).collect();
        let index = HammingIndex::from_fingerprints(&fps);
        // 24 bytes of entries, a few bits of tombstones, and the fixed offsets.
        let per = (index.memory_bytes() - BLOCKS * (BUCKETS + 1) * 4 - 697 * 2) as f64 / fps.len() as f64;
        assert!(per <= 24.6, "{per} bytes per fingerprint");
    }
}
