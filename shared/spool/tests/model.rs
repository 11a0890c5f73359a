//! Model-based property test of the spool.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::time::Duration;

use atrium_spool::{Spool, SpoolConfig};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<u8>),
    /// Acknowledge the n-th pending event (modulo the count).
    Ack(usize),
    /// Close and reopen, as after a restart.
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Op::Append),
        3 => any::<usize>().prop_map(Op::Ack),
        1 => Just(Op::Reopen),
    ]
}

fn config(dir: &std::path::Path) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_owned(),
        max_bytes: 64 << 20,
        segment_bytes: 4096,
        fsync_interval: Duration::from_secs(1),
        clock: atrium_clock::system(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Against a model: whatever the interleaving of appends,
    /// out-of-order acknowledgements and restarts, the spool holds
    /// exactly the unacknowledged events, in order, with their bytes
    /// intact; after a restart, events acknowledged out of order (above
    /// the contiguous acknowledgement mark) come back, as documented:
    /// delivery is at-least-once, never at-most-once.
    #[test]
    fn spool_matches_its_model(ops in proptest::collection::vec(op(), 1..120)) {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(config(dir.path())).unwrap();
        let mut model: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        // Acknowledged above the contiguous mark: resurface on restart.
        let mut above_mark: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let mut last_seq = 0u64;
        for op in ops {
            match op {
                Op::Append(p) => {
                    let (seq, dropped) = spool.append(&p).unwrap();
                    prop_assert_eq!(dropped, 0);
                    prop_assert!(model.keys().all(|k| *k < seq));
                    last_seq = seq;
                    model.insert(seq, p);
                }
                Op::Ack(n) => {
                    if !model.is_empty() {
                        let seq = *model.keys().nth(n % model.len()).unwrap();
                        spool.ack(seq).unwrap();
                        if let Some(p) = model.remove(&seq) {
                            above_mark.insert(seq, p);
                        }
                    }
                }
                Op::Reopen => {
                    spool.sync().unwrap();
                    drop(spool);
                    let (s, rec) = Spool::open(config(dir.path())).unwrap();
                    prop_assert_eq!(rec.truncated_bytes, 0);
                    spool = s;
                    model.append(&mut above_mark);
                }
            }
            let mark = model.keys().next().map_or(last_seq, |first| first - 1);
            above_mark.retain(|seq, _| *seq > mark);
            prop_assert_eq!(spool.acked_through(), mark);
            let got: Vec<(u64, Vec<u8>)> = spool
                .read_after(0, usize::MAX)
                .unwrap()
                .into_iter()
                .map(|r| (r.seq, r.payload.unwrap()))
                .collect();
            let want: Vec<(u64, Vec<u8>)> = model.iter().map(|(k, v)| (*k, v.clone())).collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(spool.pending(), model.len() as u64);
        }
    }
}
