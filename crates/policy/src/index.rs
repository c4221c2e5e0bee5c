//! A compact hash index from 64-bit fingerprints to small values, with a filter in front.
//!
//! Most probes of a lookup miss: for `www.bbc.co.uk` the engine asks about `uk`, `co.uk`,
//! `bbc.co.uk` and `www.bbc.co.uk`, and at most one of them is listed. A one-word-per-probe
//! filter (two bits of a 64-bit word chosen by the fingerprint) answers most misses from a
//! table of about a byte per entry, which stays in cache, before the main table (twelve bytes
//! a slot, open addressing, linear probing) is touched. Keys are fingerprints, not strings:
//! a snapshot of 1.5 million list entries fits in about 20 bytes an entry.

/// Fingerprints to values; built once, then read-only.
#[derive(Debug, Clone)]
pub struct FingerprintIndex {
    keys: Box<[u64]>,
    values: Box<[u32]>,
    mask: usize,
    filter: Box<[u64]>,
    filter_shift: u32,
    len: usize,
}

/// The fingerprint that marks an empty slot; a real fingerprint of this value is stored as 1.
const EMPTY: u64 = 0;

#[inline]
fn key_of(fp: u64) -> u64 {
    if fp == EMPTY { 1 } else { fp }
}

impl FingerprintIndex {
    /// Builds an index. Where a fingerprint occurs more than once, `merge` combines the
    /// values (the first argument is the value already stored).
    pub fn build(mut entries: Vec<(u64, u32)>, mut merge: impl FnMut(u32, u32) -> u32) -> FingerprintIndex {
        for e in &mut entries {
            e.0 = key_of(e.0);
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
        let slots = (len * 4 / 3 + 1).next_power_of_two().max(8);
        let mut keys = vec![EMPTY; slots].into_boxed_slice();
        let mut values = vec![0u32; slots].into_boxed_slice();
        let mask = slots - 1;
        // About 8 filter bits an entry: with two bits per key, one in about 25 misses gets
        // past the filter.
        let filter_words = (len / 8 + 1).next_power_of_two().max(1);
        let filter_shift = 64 - filter_words.trailing_zeros();
        let mut filter = vec![0u64; filter_words].into_boxed_slice();
        for (k, v) in unique {
            let mut i = (k as usize) & mask;
            while keys[i] != EMPTY {
                i = (i + 1) & mask;
            }
            keys[i] = k;
            values[i] = v;
            let (w, bits) = filter_slot(k, filter_shift);
            filter[w] |= bits;
        }
        FingerprintIndex {
            keys,
            values,
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

    #[inline]
    pub fn get(&self, fp: u64) -> Option<u32> {
        let k = key_of(fp);
        let (w, bits) = filter_slot(k, self.filter_shift);
        // The filter has at least one word, and `w` is below its length by construction.
        if self.filter[w] & bits != bits {
            return None;
        }
        let mut i = (k as usize) & self.mask;
        loop {
            let here = self.keys[i];
            if here == k {
                return Some(self.values[i]);
            }
            if here == EMPTY {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the index holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.keys.len() * 8 + self.values.len() * 4 + self.filter.len() * 8
    }
}

/// The filter word and the two bits a key sets in it. The word comes from the key's high
/// bits and the slot from its low bits, so the two do not correlate.
#[inline]
fn filter_slot(k: u64, shift: u32) -> (usize, u64) {
    let w = if shift >= 64 { 0 } else { (k >> shift) as usize };
    let bits = (1u64 << (k & 63)) | (1u64 << ((k >> 6) & 63));
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
        let idx = FingerprintIndex::build(vec![(5, 1), (5, 2), (0, 9)], |a, b| a | b);
        assert_eq!(idx.get(5), Some(3));
        assert_eq!(idx.get(0), Some(9));
        assert_eq!(idx.len(), 2);
        assert_eq!(FingerprintIndex::empty().get(5), None);
    }
}
