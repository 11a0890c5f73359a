//! The spool on a disk that fills up (a 256 KiB tmpfs): a failed append
//! leaves nothing behind, later records land where the index says, every
//! record read back is the one written, and recovery finds no torn tail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use atrium_spool::{Spool, SpoolConfig, SpoolError};
use atrium_testkit::SmallDisk;

fn config(dir: &std::path::Path) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_owned(),
        max_bytes: 64 << 20, // far above the disk: the disk fills first
        segment_bytes: 64 << 10,
        fsync_interval: Duration::from_millis(50),
        clock: atrium_clock::system(),
    }
}

/// A payload that names its number and is long enough to cross pages.
fn payload(i: usize) -> Vec<u8> {
    format!("event {i:06} {}", "p".repeat(1500 + i % 700)).into_bytes()
}

#[test]
fn a_full_disk_refuses_appends_cleanly_and_keeps_every_accepted_record_intact() {
    let disk = SmallDisk::mount(256 * 1024).unwrap();
    let dir = disk.path().join("spool");
    let (mut spool, _) = Spool::open(config(&dir)).unwrap();
    let filler = disk.fill_leaving(48 * 1024).unwrap();

    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..200 {
        match spool.append(&payload(i)) {
            Ok((seq, dropped)) => {
                assert_eq!(dropped, 0);
                accepted.push((seq, i));
            }
            Err(SpoolError::Io { source, .. }) => {
                assert_eq!(source.kind(), std::io::ErrorKind::StorageFull, "{source}");
                refused += 1;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(refused > 0, "the disk never filled");
    assert!(accepted.len() > 5, "only {} fit", accepted.len());

    // Space again: appends succeed and go where the index expects them.
    std::fs::remove_file(filler).unwrap();
    for i in 200..260 {
        let (seq, _) = spool.append(&payload(i)).unwrap();
        accepted.push((seq, i));
    }
    spool.sync().unwrap();
    let check = |spool: &Spool| {
        let records = spool.read_after(0, usize::MAX).unwrap();
        assert_eq!(records.len(), accepted.len());
        for (r, (seq, i)) in records.iter().zip(&accepted) {
            assert_eq!(r.seq, *seq);
            let got = r
                .payload
                .as_ref()
                .unwrap_or_else(|e| panic!("record {seq}: {e}"));
            assert_eq!(got, &payload(*i), "record {seq} is not event {i}");
        }
    };
    check(&spool);
    drop(spool);
    let (spool, recovery) = Spool::open(config(&dir)).unwrap();
    assert_eq!(
        recovery.truncated_bytes, 0,
        "a failed write left a fragment"
    );
    assert_eq!(
        recovery.corrupt_ranges, 0,
        "a failed write left garbage between records"
    );
    check(&spool);
}
