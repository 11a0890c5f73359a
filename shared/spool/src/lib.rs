//! The on-disk spool: records are written here before they are handed on,
//! and removed only after the next stage acknowledged them. The edge agent
//! spools every event before publishing it (removed on the broker's
//! PUBACK); central spools messages it cannot commit while the database is
//! down (removed once committed).
//!
//! # Invariants
//! * Every event gets a sequence number, strictly increasing across
//!   restarts. Publishing reads events in sequence order, so after an outage
//!   they are replayed in the order they happened.
//! * An event leaves the spool only when acknowledged (PUBACK) or when the
//!   quota forces the oldest events out; the latter is counted and reported.
//! * A crash (process killed at any instant) loses nothing that `append`
//!   returned for (written to the page cache), and leaves at most one torn
//!   record at the end of the last segment, which recovery truncates. A power
//!   loss may additionally lose the last `fsync_interval` of events.
//!
//! # On-disk format
//! The directory holds segment files `<first seq, 20 digits>.seg` and an
//! `acked` file. A segment is a sequence of records:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `ASP1` |
//! | 4 | payload length, little-endian u32 |
//! | 4 | CRC-32 of the seq bytes and the payload, little-endian |
//! | 8 | sequence number, little-endian u64 |
//! | len | payload (the event's JSON) |
//!
//! `acked` holds the highest sequence number below which everything is
//! acknowledged (8 bytes LE) and a CRC-32 of those bytes; it is replaced
//! atomically (write temporary file, rename). It may lag behind (the lag is
//! re-published: delivery is at-least-once and central deduplicates by
//! event id), never run ahead.
//!
//! # Recovery
//! Segments are read in order and every record's CRC checked. A bad record
//! at the end of the last segment is a torn write: the file is truncated
//! there. A bad record anywhere else is corruption: the rest of that
//! segment is skipped and counted. Segments whose records are all
//! acknowledged are deleted.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MAGIC: &[u8; 4] = b"ASP1";
const HEADER: u64 = 20;
/// Largest accepted payload; anything longer in a header is corruption.
pub const MAX_RECORD: u32 = 4 * 1024 * 1024;

/// Spool settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    /// Disk quota for all segments.
    pub max_bytes: u64,
    /// A segment is closed when it reaches this size.
    pub segment_bytes: u64,
    /// Longest time between fsyncs (zero: fsync every append).
    pub fsync_interval: Duration,
}

/// Why the spool failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("event of {len} bytes is larger than the spool's {MAX_RECORD}-byte record limit")]
    TooLarge { len: usize },
}

/// What recovery found when opening.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Unacknowledged events found.
    pub pending: u64,
    /// Bytes cut from a torn record at the end.
    pub truncated_bytes: u64,
    /// Segments with a corrupt record in the middle (rest skipped).
    pub corrupt_segments: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loc {
    segment: u64,
    offset: u64,
    len: u32,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    bytes: u64,
    last_seq: Option<u64>,
}

/// The spool.
#[derive(Debug)]
pub struct Spool {
    config: SpoolConfig,
    segments: VecDeque<Segment>,
    active: File,
    index: BTreeMap<u64, Loc>,
    next_seq: u64,
    acked: u64,
    acked_above: BTreeSet<u64>,
    acked_written: u64,
    last_sync: Instant,
    unsynced: bool,
    dropped_total: u64,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    }
}

fn crc(seq: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(payload);
    h.finalize()
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

/// Parses records from a segment's bytes; returns them and the offset of
/// the first byte that is not a valid record.
fn parse(bytes: &[u8]) -> (Vec<(u64, u64, u32)>, u64) {
    let mut out = Vec::new();
    let mut off = 0usize;
    while bytes.len() - off >= HEADER as usize {
        let h = &bytes[off..off + HEADER as usize];
        if &h[0..4] != MAGIC {
            break;
        }
        let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let sum = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        let seq = u64::from_le_bytes([h[12], h[13], h[14], h[15], h[16], h[17], h[18], h[19]]);
        let end = off + HEADER as usize + len as usize;
        if len > MAX_RECORD || end > bytes.len() {
            break;
        }
        if crc(seq, &bytes[off + HEADER as usize..end]) != sum {
            break;
        }
        out.push((seq, off as u64, len));
        off = end;
    }
    (out, off as u64)
}

impl Spool {
    /// Opens (creating if needed) and recovers the spool in `config.dir`.
    pub fn open(mut config: SpoolConfig) -> Result<(Self, Recovery), SpoolError> {
        let dir = config.dir.clone();
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        // A segment may not exceed a quarter of the quota, so dropping the
        // oldest one always makes room.
        config.segment_bytes = config
            .segment_bytes
            .clamp(4096, (config.max_bytes / 4).max(4096));
        let acked = read_acked(&dir);
        let mut ids: Vec<u64> = std::fs::read_dir(&dir)
            .map_err(io_err(&dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".seg").and_then(|n| n.parse().ok())
            })
            .collect();
        ids.sort_unstable();
        let mut recovery = Recovery::default();
        let mut segments = VecDeque::new();
        let mut index = BTreeMap::new();
        let mut max_seq = acked;
        for (i, &id) in ids.iter().enumerate() {
            let path = segment_path(&dir, id);
            let bytes = std::fs::read(&path).map_err(io_err(&path))?;
            let (records, valid) = parse(&bytes);
            let last = i + 1 == ids.len();
            if valid < bytes.len() as u64 {
                if last {
                    recovery.truncated_bytes = bytes.len() as u64 - valid;
                    let f = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(io_err(&path))?;
                    f.set_len(valid).map_err(io_err(&path))?;
                    f.sync_all().map_err(io_err(&path))?;
                    tracing::warn!(segment = %path.display(), bytes = recovery.truncated_bytes, "spool: truncated a torn record");
                } else {
                    recovery.corrupt_segments += 1;
                    tracing::error!(segment = %path.display(), at = valid, "spool: corrupt record, rest of the segment skipped");
                }
            }
            for &(seq, offset, len) in &records {
                max_seq = max_seq.max(seq);
                if seq > acked {
                    index.insert(
                        seq,
                        Loc {
                            segment: id,
                            offset,
                            len,
                        },
                    );
                }
            }
            segments.push_back(Segment {
                id,
                bytes: valid,
                last_seq: records.last().map(|r| r.0),
            });
        }
        recovery.pending = index.len() as u64;
        let next_seq = max_seq + 1;
        if segments.is_empty() {
            segments.push_back(Segment {
                id: next_seq,
                bytes: 0,
                last_seq: None,
            });
        }
        let active_id = segments.back().map_or(next_seq, |s| s.id);
        let active_path = segment_path(&dir, active_id);
        let active = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&active_path)
            .map_err(io_err(&active_path))?;
        let mut spool = Self {
            config,
            segments,
            active,
            index,
            next_seq,
            acked,
            acked_above: BTreeSet::new(),
            acked_written: acked,
            last_sync: Instant::now(),
            unsynced: false,
            dropped_total: 0,
        };
        spool.delete_acked_segments()?;
        Ok((spool, recovery))
    }

    /// Appends one event; returns its sequence number and how many old
    /// unacknowledged events the quota forced out to make room.
    pub fn append(&mut self, payload: &[u8]) -> Result<(u64, u64), SpoolError> {
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|l| *l <= MAX_RECORD)
            .ok_or(SpoolError::TooLarge { len: payload.len() })?;
        let size = HEADER + u64::from(len);
        let dropped = self.make_room(size)?;
        if self.active_bytes() + size > self.config.segment_bytes && self.active_bytes() > 0 {
            self.roll()?;
        }
        let seq = self.next_seq;
        let mut record = Vec::with_capacity(size as usize);
        record.extend_from_slice(MAGIC);
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&crc(seq, payload).to_le_bytes());
        record.extend_from_slice(&seq.to_le_bytes());
        record.extend_from_slice(payload);
        let (id, offset) = {
            let seg = self
                .segments
                .back()
                .map_or((self.next_seq, 0), |s| (s.id, s.bytes));
            (seg.0, seg.1)
        };
        let path = segment_path(&self.config.dir, id);
        self.active.write_all(&record).map_err(io_err(&path))?;
        if let Some(seg) = self.segments.back_mut() {
            seg.bytes += size;
            seg.last_seq = Some(seq);
        }
        self.index.insert(
            seq,
            Loc {
                segment: id,
                offset,
                len,
            },
        );
        self.next_seq += 1;
        self.unsynced = true;
        if self.last_sync.elapsed() >= self.config.fsync_interval {
            self.sync()?;
        }
        Ok((seq, dropped))
    }

    fn active_bytes(&self) -> u64 {
        self.segments.back().map_or(0, |s| s.bytes)
    }

    fn roll(&mut self) -> Result<(), SpoolError> {
        self.sync()?;
        let id = self.next_seq;
        let path = segment_path(&self.config.dir, id);
        self.active = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        self.segments.push_back(Segment {
            id,
            bytes: 0,
            last_seq: None,
        });
        Ok(())
    }

    /// Drops whole oldest segments until `size` more bytes fit the quota.
    fn make_room(&mut self, size: u64) -> Result<u64, SpoolError> {
        let mut dropped = 0;
        while self.bytes() + size > self.config.max_bytes && self.segments.len() > 1 {
            let Some(seg) = self.segments.pop_front() else {
                break;
            };
            let gone: Vec<u64> = self
                .index
                .iter()
                .filter(|(_, l)| l.segment == seg.id)
                .map(|(s, _)| *s)
                .collect();
            for s in &gone {
                self.index.remove(s);
            }
            dropped += gone.len() as u64;
            if let Some(last) = seg.last_seq {
                self.mark_acked_through(last);
            }
            let path = segment_path(&self.config.dir, seg.id);
            std::fs::remove_file(&path).map_err(io_err(&path))?;
        }
        if dropped > 0 {
            self.dropped_total += dropped;
            self.write_acked()?;
        }
        Ok(dropped)
    }

    fn mark_acked_through(&mut self, seq: u64) {
        if seq > self.acked {
            self.acked = seq;
            self.acked_above.retain(|s| *s > seq);
            self.advance();
        }
    }

    fn advance(&mut self) {
        while self.acked_above.remove(&(self.acked + 1)) {
            self.acked += 1;
        }
        // Gaps left by dropped or never-written sequence numbers (none
        // pending at or below the next pending one) are acknowledged too.
        let next_pending = self.index.keys().next().copied().unwrap_or(self.next_seq);
        if next_pending > self.acked + 1 {
            self.acked = next_pending - 1;
            self.acked_above.retain(|s| *s > self.acked);
        }
    }

    /// Records the broker's acknowledgement of `seq`.
    pub fn ack(&mut self, seq: u64) -> Result<(), SpoolError> {
        if self.index.remove(&seq).is_none() {
            return Ok(());
        }
        if seq > self.acked {
            self.acked_above.insert(seq);
        }
        self.advance();
        let before = self.segments.len();
        self.delete_acked_segments()?;
        if self.segments.len() != before || self.acked >= self.acked_written + 256 {
            self.write_acked()?;
        }
        Ok(())
    }

    fn delete_acked_segments(&mut self) -> Result<(), SpoolError> {
        while self.segments.len() > 1 {
            let Some(front) = self.segments.front() else {
                break;
            };
            let done = front.last_seq.is_none_or(|l| l <= self.acked);
            if !done {
                break;
            }
            let path = segment_path(&self.config.dir, front.id);
            self.segments.pop_front();
            std::fs::remove_file(&path).map_err(io_err(&path))?;
        }
        Ok(())
    }

    fn write_acked(&mut self) -> Result<(), SpoolError> {
        let dir = &self.config.dir;
        let tmp = dir.join("acked.tmp");
        let mut bytes = self.acked.to_le_bytes().to_vec();
        let sum = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&sum.to_le_bytes());
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&bytes).map_err(io_err(&tmp))?;
        f.sync_data().map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, dir.join("acked")).map_err(io_err(&tmp))?;
        self.acked_written = self.acked;
        Ok(())
    }

    /// Flushes appended records and the acknowledgement mark to disk.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if self.unsynced {
            let path = segment_path(&self.config.dir, self.segments.back().map_or(0, |s| s.id));
            self.active.sync_data().map_err(io_err(&path))?;
            self.unsynced = false;
        }
        if self.acked != self.acked_written {
            self.write_acked()?;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Up to `max` unacknowledged events with sequence numbers above
    /// `after`, in order.
    pub fn read_after(&self, after: u64, max: usize) -> Result<Vec<(u64, Vec<u8>)>, SpoolError> {
        let mut out = Vec::new();
        let mut open: Option<(u64, File)> = None;
        for (&seq, loc) in self.index.range(after + 1..).take(max) {
            let path = segment_path(&self.config.dir, loc.segment);
            let file = match &mut open {
                Some((id, f)) if *id == loc.segment => f,
                _ => {
                    let f = File::open(&path).map_err(io_err(&path))?;
                    &mut open.insert((loc.segment, f)).1
                }
            };
            file.seek(SeekFrom::Start(loc.offset + HEADER))
                .map_err(io_err(&path))?;
            let mut buf = vec![0; loc.len as usize];
            file.read_exact(&mut buf).map_err(io_err(&path))?;
            out.push((seq, buf));
        }
        Ok(out)
    }

    /// Unacknowledged events.
    pub fn pending(&self) -> u64 {
        self.index.len() as u64
    }

    /// The first unacknowledged sequence number.
    pub fn first_pending(&self) -> Option<u64> {
        self.index.keys().next().copied()
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Fill of the quota, 0..1.
    pub fn fill(&self) -> f32 {
        (self.bytes() as f64 / self.config.max_bytes.max(1) as f64) as f32
    }

    /// Events forced out by the quota since opening.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }

    /// Highest sequence number below which everything is acknowledged.
    pub fn acked_through(&self) -> u64 {
        self.acked
    }
}

fn read_acked(dir: &Path) -> u64 {
    let Ok(bytes) = std::fs::read(dir.join("acked")) else {
        return 0;
    };
    if bytes.len() != 12 {
        return 0;
    }
    let sum = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if crc32fast::hash(&bytes[..8]) != sum {
        tracing::warn!("spool: acknowledgement mark is corrupt; re-publishing everything spooled");
        return 0;
    }
    u64::from_le_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, max: u64) -> SpoolConfig {
        SpoolConfig {
            dir: dir.to_owned(),
            max_bytes: max,
            segment_bytes: 4096,
            fsync_interval: Duration::from_millis(50),
        }
    }

    fn payloads(spool: &Spool) -> Vec<String> {
        spool
            .read_after(0, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|(_, p)| String::from_utf8(p).unwrap())
            .collect()
    }

    #[test]
    fn events_are_read_in_order_and_leave_when_acked() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, rec) = Spool::open(config(dir.path(), 1 << 20)).unwrap();
        assert_eq!(rec, Recovery::default());
        let seqs: Vec<u64> = (0..5)
            .map(|i| s.append(format!("e{i}").as_bytes()).unwrap().0)
            .collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
        s.ack(2).unwrap();
        s.ack(1).unwrap();
        assert_eq!(s.acked_through(), 2);
        s.ack(4).unwrap();
        assert_eq!(s.acked_through(), 2, "3 is still pending");
        assert_eq!(payloads(&s), vec!["e2", "e4"]);
        assert_eq!(
            s.read_after(0, 10)
                .unwrap()
                .iter()
                .map(|r| r.0)
                .collect::<Vec<_>>(),
            vec![3, 5]
        );
        assert_eq!(
            s.read_after(3, 10)
                .unwrap()
                .iter()
                .map(|r| r.0)
                .collect::<Vec<_>>(),
            vec![5]
        );
    }

    #[test]
    fn unacked_events_survive_reopening_and_numbering_continues() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut s, _) = Spool::open(config(dir.path(), 1 << 20)).unwrap();
            for i in 0..100 {
                s.append(format!("event {i}").as_bytes()).unwrap();
            }
            for seq in 1..=60 {
                s.ack(seq).unwrap();
            }
            s.sync().unwrap();
        }
        let (mut s, rec) = Spool::open(config(dir.path(), 1 << 20)).unwrap();
        assert_eq!(rec.pending, 40);
        let p = payloads(&s);
        assert_eq!(p.first().map(String::as_str), Some("event 60"));
        assert_eq!(p.len(), 40);
        assert_eq!(s.append(b"next").unwrap().0, 101);
    }

    #[test]
    fn a_torn_record_at_the_end_is_truncated_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut s, _) = Spool::open(config(dir.path(), 1 << 20)).unwrap();
            s.append(b"one").unwrap();
            s.append(b"two").unwrap();
            s.sync().unwrap();
        }
        // Simulate a crash mid-write: half a record at the end.
        let seg = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "seg"))
            .unwrap();
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"ASP1\x10\x00\x00\x00garbage").unwrap();
        drop(f);
        let (mut s, rec) = Spool::open(config(dir.path(), 1 << 20)).unwrap();
        assert_eq!(rec.truncated_bytes, 15);
        assert_eq!(payloads(&s), vec!["one", "two"]);
        s.append(b"three").unwrap();
        let (s, rec) = Spool::open(config(dir.path(), 1 << 20)).unwrap();
        assert_eq!(rec.truncated_bytes, 0, "appends after recovery are clean");
        assert_eq!(payloads(&s), vec!["one", "two", "three"]);
    }

    #[test]
    fn a_flipped_bit_is_detected_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut s, _) = Spool::open(config(dir.path(), 1 << 20)).unwrap();
            for i in 0..3 {
                s.append(format!("payload-{i}").as_bytes()).unwrap();
            }
        }
        let seg = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "seg"))
            .unwrap();
        let mut bytes = std::fs::read(&seg).unwrap();
        let second = (HEADER as usize + 9) + HEADER as usize + 2; // inside payload 2
        bytes[second] ^= 0x40;
        std::fs::write(&seg, bytes).unwrap();
        let (s, rec) = Spool::open(config(dir.path(), 1 << 20)).unwrap();
        assert!(rec.truncated_bytes > 0);
        assert_eq!(payloads(&s), vec!["payload-0"]);
    }

    #[test]
    fn the_quota_drops_the_oldest_events_and_reports_them() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(config(dir.path(), 16 * 1024)).unwrap();
        let payload = vec![b'x'; 500];
        let mut dropped = 0;
        for _ in 0..100 {
            dropped += s.append(&payload).unwrap().1;
        }
        assert!(dropped > 0);
        assert_eq!(s.dropped_total(), dropped);
        assert!(s.bytes() <= 16 * 1024, "{}", s.bytes());
        assert_eq!(s.pending() + dropped, 100);
        // What is left is the newest, still in order.
        let seqs: Vec<u64> = s
            .read_after(0, usize::MAX)
            .unwrap()
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(seqs.last(), Some(&100));
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
    }

    #[test]
    fn fully_acked_segments_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(config(dir.path(), 1 << 20)).unwrap();
        for _ in 0..200 {
            s.append(&[b'y'; 100]).unwrap();
        }
        let count = || {
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "seg")
                })
                .count()
        };
        assert!(count() > 3);
        for seq in 1..=200 {
            s.ack(seq).unwrap();
        }
        assert_eq!(count(), 1, "only the active segment remains");
        assert_eq!(s.pending(), 0);
    }
}
