//! A compact hash index from 64-bit fingerprints to small values, with a filter in front.
//!
//! Most probes of a lookup miss: for `www.bbc.co.uk` the engine asks about `uk`, `co.uk`,
//! `bbc.co.uk` and `www.bbc.co.uk`, and at most one of them is listed. A one-word-per-probe
//! filter (two bits of a 64-bit word chosen by the fingerprint) answers most misses from a
//! table of about a byte per entry, which stays in cache, before the main table (twelve bytes
//! a slot, open addressing, linear probing) is touched. Keys are fingerprints, not strings:
//! a snapshot of 1.5 million list entries fits in about 20 bytes an entry.

/// Fingerprints to values; built once, then read-only.
///
/// A slot is one `u64`: the fingerprint's high 32 bits as a tag, and the value. The slot
/// number comes from the fingerprint's low bits, so a hit needs tag and slot to agree: 32
/// plus log2(slots) bits of the fingerprint, which for a snapshot of millions of entries
/// makes a false match rarer than one in a billion lookups, and keeps a hit to a single
/// cache line.
#[derive(Debug, Clone)]
pub struct FingerprintIndex {
    slots: Box<[u64]>,
    mask: usize,
    filter: Box<[u64]>,
    filter_shift: u32,
    len: usize,
}

/// The tag of an empty slot; a fingerprint whose tag is this value is stored with tag 1.
const EMPTY: u32 = 0;

#[inline]
fn tag_of(fp: u64) -> u32 {
    match (fp >> 32) as u32 {
        EMPTY => 1,
        t => t,
    }
}

impl FingerprintIndex {
    /// Builds an index. Where a fingerprint occurs more than once, `merge` combines the
    /// values (the first argument is the value already stored).
    pub fn build(mut entries: Vec<(u64, u32)>, mut merge: impl FnMut(u32, u32) -> u32) -> FingerprintIndex {
        // Fingerprints that index the same way are the same key.
        for e in &mut entries {
            e.0 = (u64::from(tag_of(e.0)) << 32) | (e.0 & 0xffff_ffff);
        }
        entries.sort_unstable_by_key(|e| e.0);
        let mut unique: Vec<(u64, u32)> = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            match unique.last_mut() {
                Some(last) if last.0 == k => last.1 = merge(last.1, v),
                _ => unique.push((k, v)),
            }
        }
        let len = unique.len();
        // At most 3/4 full, so that probe runs stay short.
        let n_slots = (len * 4 / 3 + 1).next_power_of_two().max(8);
        let mut slots = vec![0u64; n_slots].into_boxed_slice();
        let mask = n_slots - 1;
        // About 8 filter bits an entry: with two bits per key, one in about 25 misses gets
        // past the filter.
        let filter_words = (len / 8 + 1).next_power_of_two().max(1);
        let filter_shift = 64 - filter_words.trailing_zeros();
        let mut filter = vec![0u64; filter_words].into_boxed_slice();
        for (k, v) in unique {
            let mut i = (k as usize) & mask;
            while (slots[i] >> 32) as u32 != EMPTY {
                i = (i + 1) & mask;
            }
            slots[i] = (u64::from(tag_of(k)) << 32) | u64::from(v);
            let (w, bits) = filter_slot(k, filter_shift);
            filter[w] |= bits;
        }
        FingerprintIndex {
            slots,
            mask,
            filter,
            filter_shift,
            len,
        }
    }

    /// An index with nothing in it.
    pub fn empty() -> FingerprintIndex {
        FingerprintIndex::build(Vec::new(), |a, _| a)
    }

    /// Whether the filter lets `fp` through: false means it is certainly not in the index.
    /// Lookups ask this of every suffix first, so that the loads overlap.
    #[inline]
    pub fn may_contain(&self, fp: u64) -> bool {
        let (w, bits) = filter_slot(fp, self.filter_shift);
        self.filter[w] & bits == bits
    }

    /// Looks `fp` up in the table itself, without asking the filter.
    #[inline]
    pub fn probe(&self, fp: u64) -> Option<u32> {
        let tag = tag_of(fp);
        let mut i = (fp as usize) & self.mask;
        loop {
            let slot = self.slots[i];
            let here = (slot >> 32) as u32;
            if here == tag {
                return Some(slot as u32);
            }
            if here == EMPTY {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    pub fn get(&self, fp: u64) -> Option<u32> {
        if self.may_contain(fp) { self.probe(fp) } else { None }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the index holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.slots.len() * 8 + self.filter.len() * 8
    }
}

/// The filter word and the two bits a fingerprint sets in it: the word from the high bits,
/// the bits from bits 20 to 31, which neither the word nor (for tables of up to a million
/// slots) the slot number uses.
#[inline]
fn filter_slot(fp: u64, shift: u32) -> (usize, u64) {
    let w = if shift >= 64 { 0 } else { (fp >> shift) as usize };
    let bits = (1u64 << ((fp >> 20) & 63)) | (1u64 << ((fp >> 26) & 63));
    (w, bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_put_in_and_nothing_else() {
        let entries: Vec<(u64, u32)> = (1..10_000u64)
            .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15), i as u32))
            .collect();
        let idx = FingerprintIndex::build(entries.clone(), |a, _| a);
        assert_eq!(idx.len(), entries.len());
        for (k, v) in &entries {
            assert_eq!(idx.get(*k), Some(*v));
        }
        let misses = (10_000..20_000u64)
            .filter(|i| idx.get(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).is_some())
            .count();
        assert_eq!(misses, 0);
    }

    #[test]
    fn duplicates_are_merged_and_zero_is_a_valid_key() {
        let five = 5 << 40 | 5;
        let idx = FingerprintIndex::build(vec![(five, 1), (five, 2), (0, 9)], |a, b| a | b);
        assert_eq!(idx.get(five), Some(3));
        assert_eq!(idx.get(0), Some(9));
        assert_eq!(idx.len(), 2);
        assert_eq!(FingerprintIndex::empty().get(5), None);
    }
}
