//! Spool recovery from arbitrary bytes on disk (a torn, corrupted or
//! hostile segment and acknowledgement mark): opening never panics, every
//! record it then returns passes its checksum, and an append afterwards is
//! read back intact, also after reopening.
#![no_main]

use std::time::Duration;

use atrium_spool::{Spool, SpoolConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // tmpfs when there is one: fsync is then cheap and the fuzzer fast.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    };
    let Ok(dir) = dir else {
        return;
    };
    // The first 12 bytes (if any) are the `acked` file, the rest a segment.
    let (acked, segment) = data.split_at(data.len().min(12));
    if acked.len() == 12 && std::fs::write(dir.path().join("acked"), acked).is_err() {
        return;
    }
    if std::fs::write(dir.path().join("00000000000000000001.seg"), segment).is_err() {
        return;
    }
    let config = SpoolConfig {
        dir: dir.path().to_owned(),
        max_bytes: 16 << 20,
        segment_bytes: 1 << 20,
        fsync_interval: Duration::from_secs(60),
        clock: atrium_clock::system(),
    };
    let Ok((mut spool, recovery)) = Spool::open(config.clone()) else {
        return;
    };
    let records = spool
        .read_after(0, usize::MAX)
        .expect("the segment is readable");
    assert_eq!(records.len() as u64, recovery.pending);
    for r in &records {
        assert!(
            r.payload.is_ok(),
            "recovery kept a record that fails its checksum"
        );
    }
    let (seq, _) = spool.append(b"appended after recovery").expect("append");
    assert_eq!(
        spool.read(seq).expect("read").as_deref(),
        Some(&b"appended after recovery"[..])
    );
    spool.sync().expect("sync");
    drop(spool);
    let (spool, _) = Spool::open(config).expect("reopen");
    assert_eq!(
        spool.read(seq).expect("read").as_deref(),
        Some(&b"appended after recovery"[..])
    );
});
