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
//!   loss may additionally lose what was appended in the last
//!   `fsync_interval`: the owner calls [`Spool::sync`] when
//!   [`Spool::sync_due`] says so, also when no further event arrives.
//! * A failed append (disk full, I/O error) returns the error and leaves
//!   the segment as it was before the call: a partly written record is cut
//!   off again, so later records are never written at wrong offsets. If
//!   even that fails, the segment is closed and the next append starts a
//!   new one.
//! * Every read checks the record's magic, length, sequence number and
//!   CRC; a record that fails is reported as [`SpoolError::Corrupt`], never
//!   returned as an event.
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
//! Segments are read in order and every record's CRC checked. At a bad
//! record, recovery looks for the next valid record further on: if there
//! is one, the bytes in between are corruption (skipped, counted, and
//! handed to the owner in [`Recovery::corrupt`] so central can dead-letter
//! them); if there is none, the rest is a torn write, cut off in the last
//! segment. Valid records after a corrupt one are never lost. Segments
//! whose records are all acknowledged are deleted.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use atrium_clock::SharedClock;

const MAGIC: &[u8; 4] = b"ASP1";
const HEADER: u64 = 20;
/// Largest accepted payload; anything longer in a header is corruption.
pub const MAX_RECORD: u32 = 4 * 1024 * 1024;

/// Spool settings.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    /// Disk quota for all segments.
    pub max_bytes: u64,
    /// A segment is closed when it reaches this size.
    pub segment_bytes: u64,
    /// Longest time between fsyncs (zero: fsync every append).
    pub fsync_interval: Duration,
    /// Where the fsync deadline's "now" comes from.
    pub clock: SharedClock,
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
    #[error("spool {path}: record {seq} at byte {offset} is corrupt: {what}")]
    Corrupt {
        path: PathBuf,
        seq: u64,
        offset: u64,
        what: &'static str,
        /// The bytes found where the record should be (kept for dead
        /// letters; not to be trusted).
        raw: Vec<u8>,
    },
}

/// One record read back: its sequence number and its payload, or why the
/// bytes on disk are not the payload that was written.
#[derive(Debug)]
pub struct Record {
    pub seq: u64,
    pub payload: Result<Vec<u8>, SpoolError>,
}

/// What recovery found when opening.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Unacknowledged events found.
    pub pending: u64,
    /// Bytes cut from a torn record at the end.
    pub truncated_bytes: u64,
    /// Corrupt stretches between valid records (skipped), at most
    /// [`MAX_CORRUPT_KEPT`] of them with their bytes.
    pub corrupt: Vec<CorruptRange>,
    /// All corrupt stretches found, also those beyond the kept ones.
    pub corrupt_ranges: u64,
}

impl Recovery {
    /// Counts a corrupt stretch and keeps (the start of) its bytes.
    fn note_corrupt(&mut self, segment: &Path, offset: u64, bytes: &[u8]) {
        self.corrupt_ranges += 1;
        if self.corrupt.len() < MAX_CORRUPT_KEPT {
            let keep = bytes.len().min(MAX_RECORD as usize + HEADER as usize);
            self.corrupt.push(CorruptRange {
                segment: segment.to_owned(),
                offset,
                bytes: bytes[..keep].to_vec(),
            });
        }
    }
}

/// Bytes between two valid records that are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRange {
    pub segment: PathBuf,
    pub offset: u64,
    /// The bytes (at most [`MAX_RECORD`] + header).
    pub bytes: Vec<u8>,
}

/// Corrupt ranges whose bytes recovery keeps for the owner.
pub const MAX_CORRUPT_KEPT: usize = 64;

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
    /// When the oldest unsynced append happened.
    unsynced_since: Option<Instant>,
    /// The active segment could not be repaired after a failed write:
    /// start a new one before the next append.
    roll_needed: bool,
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

/// The record starting at `off`, if one is there: (seq, length, end).
fn record_at(bytes: &[u8], off: usize) -> Option<(u64, u32, usize)> {
    let h = bytes.get(off..off + HEADER as usize)?;
    if &h[0..4] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    let sum = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    let seq = u64::from_le_bytes([h[12], h[13], h[14], h[15], h[16], h[17], h[18], h[19]]);
    if len > MAX_RECORD {
        return None;
    }
    let end = off + HEADER as usize + len as usize;
    let payload = bytes.get(off + HEADER as usize..end)?;
    (crc(seq, payload) == sum).then_some((seq, len, end))
}

/// What parsing one segment found.
#[derive(Debug, Default)]
struct Parsed {
    /// (seq, offset, length) of every valid record.
    records: Vec<(u64, u64, u32)>,
    /// Where the valid part ends (anything after is a torn tail).
    valid_end: u64,
    /// Corrupt (offset, length) stretches between valid records.
    corrupt: Vec<(u64, u64)>,
}

/// Parses records from a segment's bytes, skipping corrupt stretches that
/// are followed by a valid record.
fn parse(bytes: &[u8]) -> Parsed {
    let mut p = Parsed::default();
    let mut off = 0usize;
    while off < bytes.len() {
        if let Some((seq, len, end)) = record_at(bytes, off) {
            p.records.push((seq, off as u64, len));
            off = end;
            p.valid_end = end as u64;
            continue;
        }
        // Resynchronise: the next offset where a valid record starts.
        let next = (off + 1..bytes.len().saturating_sub(HEADER as usize - 1))
            .filter(|&i| bytes[i..].starts_with(MAGIC))
            .find(|&i| record_at(bytes, i).is_some());
        match next {
            Some(n) => {
                p.corrupt.push((off as u64, (n - off) as u64));
                off = n;
            }
            None => break,
        }
    }
    p
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
            let parsed = parse(&bytes);
            let valid = parsed.valid_end;
            let last = i + 1 == ids.len();
            for &(offset, len) in &parsed.corrupt {
                tracing::error!(segment = %path.display(), at = offset, bytes = len, "spool: corrupt bytes between records, skipped");
                recovery.note_corrupt(
                    &path,
                    offset,
                    &bytes[offset as usize..(offset + len) as usize],
                );
            }
            if valid < bytes.len() as u64 {
                let torn = bytes.len() as u64 - valid;
                if last {
                    recovery.truncated_bytes = torn;
                    let f = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(io_err(&path))?;
                    f.set_len(valid).map_err(io_err(&path))?;
                    f.sync_all().map_err(io_err(&path))?;
                    tracing::warn!(segment = %path.display(), bytes = torn, "spool: truncated a torn record");
                } else {
                    tracing::error!(segment = %path.display(), at = valid, bytes = torn, "spool: unreadable end of a closed segment, skipped");
                    recovery.note_corrupt(&path, valid, &bytes[valid as usize..]);
                }
            }
            let records = parsed.records;
            // A segment is named after the first sequence number it was
            // opened for: numbering goes on from there even when the
            // segment is still empty (a crash right after older segments
            // were deleted and before the mark was written).
            max_seq = max_seq.max(id.saturating_sub(1));
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
        let next_seq = max_seq.saturating_add(1);
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
            unsynced_since: None,
            roll_needed: false,
            dropped_total: 0,
        };
        spool.delete_acked_segments()?;
        Ok((spool, recovery))
    }

    /// Appends one event; returns its sequence number and how many old
    /// unacknowledged events the quota forced out to make room. On an
    /// error nothing was appended (see the invariants).
    pub fn append(&mut self, payload: &[u8]) -> Result<(u64, u64), SpoolError> {
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|l| *l <= MAX_RECORD)
            .ok_or(SpoolError::TooLarge { len: payload.len() })?;
        let size = HEADER + u64::from(len);
        let dropped = self.make_room(size)?;
        if self.roll_needed
            || (self.active_bytes() + size > self.config.segment_bytes && self.active_bytes() > 0)
        {
            self.roll()?;
        }
        let seq = self.next_seq;
        let mut record = Vec::with_capacity(size as usize);
        record.extend_from_slice(MAGIC);
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&crc(seq, payload).to_le_bytes());
        record.extend_from_slice(&seq.to_le_bytes());
        record.extend_from_slice(payload);
        let (id, offset) = self
            .segments
            .back()
            .map_or((self.next_seq, 0), |s| (s.id, s.bytes));
        let path = segment_path(&self.config.dir, id);
        if let Err(e) = self.active.write_all(&record) {
            // Cut a partial record off again, so the next record starts
            // where the index expects it.
            if let Err(cut) = self.active.set_len(offset) {
                tracing::error!(segment = %path.display(), error = %cut, "spool: cannot cut a failed write off; closing the segment");
                self.roll_needed = true;
            }
            return Err(SpoolError::Io { path, source: e });
        }
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
        let now = self.config.clock.instant();
        let since = *self.unsynced_since.get_or_insert(now);
        // The event is written and indexed: a failed sync here does not
        // make it less spooled. It stays due (`sync_due`), so the next
        // `sync` call, whose caller reports its error, tries again.
        if now.duration_since(since) >= self.config.fsync_interval {
            let _ = self.sync();
        }
        Ok((seq, dropped))
    }

    /// When the spool must next be synced to keep the `fsync_interval`
    /// promise (`None`: nothing unsynced).
    pub fn sync_due(&self) -> Option<Instant> {
        self.unsynced_since.map(|t| t + self.config.fsync_interval)
    }

    fn active_bytes(&self) -> u64 {
        self.segments.back().map_or(0, |s| s.bytes)
    }

    fn roll(&mut self) -> Result<(), SpoolError> {
        self.sync()?;
        let id = self.next_seq;
        let path = segment_path(&self.config.dir, id);
        if self.segments.back().is_some_and(|s| s.id == id) {
            // The active segment holds no record yet (a failed write left
            // only a fragment that could not be cut off): start it again.
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(SpoolError::Io { path, source: e }),
            }
            self.segments.pop_back();
        }
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
        self.roll_needed = false;
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
        if self.unsynced_since.is_some() {
            let path = segment_path(&self.config.dir, self.segments.back().map_or(0, |s| s.id));
            self.active.sync_data().map_err(io_err(&path))?;
            self.unsynced_since = None;
        }
        if self.acked != self.acked_written {
            self.write_acked()?;
        }
        Ok(())
    }

    /// Up to `max` unacknowledged events with sequence numbers above
    /// `after`, in order, each checked against its header and CRC. The
    /// outer error is for a segment that cannot be read at all.
    pub fn read_after(&self, after: u64, max: usize) -> Result<Vec<Record>, SpoolError> {
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
            out.push(Record {
                seq,
                payload: read_record(file, &path, seq, loc),
            });
        }
        Ok(out)
    }

    /// The payload of one unacknowledged event (`None`: not in the spool).
    pub fn read(&self, seq: u64) -> Result<Option<Vec<u8>>, SpoolError> {
        let Some(loc) = self.index.get(&seq) else {
            return Ok(None);
        };
        let path = segment_path(&self.config.dir, loc.segment);
        let mut file = File::open(&path).map_err(io_err(&path))?;
        read_record(&mut file, &path, seq, loc).map(Some)
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

/// Reads the record at `loc` and checks that it is the one the index
/// says: magic, length, sequence number, CRC.
fn read_record(file: &mut File, path: &Path, seq: u64, loc: &Loc) -> Result<Vec<u8>, SpoolError> {
    let corrupt = |what, raw| SpoolError::Corrupt {
        path: path.to_owned(),
        seq,
        offset: loc.offset,
        what,
        raw,
    };
    file.seek(SeekFrom::Start(loc.offset))
        .map_err(io_err(path))?;
    let mut buf = Vec::with_capacity(HEADER as usize + loc.len as usize);
    let want = HEADER + u64::from(loc.len);
    (&mut *file)
        .take(want)
        .read_to_end(&mut buf)
        .map_err(io_err(path))?;
    if (buf.len() as u64) < want {
        return Err(corrupt("the segment ends inside the record", buf));
    }
    let (h, payload) = buf.split_at(HEADER as usize);
    let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    let sum = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    let on_disk = u64::from_le_bytes([h[12], h[13], h[14], h[15], h[16], h[17], h[18], h[19]]);
    let problem = if &h[0..4] != MAGIC {
        Some("no record header at this offset")
    } else if len != loc.len || on_disk != seq {
        Some("the header names another record")
    } else if crc(seq, payload) != sum {
        Some("checksum mismatch")
    } else {
        None
    };
    match problem {
        Some(what) => Err(corrupt(what, buf)),
        None => Ok(payload.to_vec()),
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
            clock: atrium_clock::system(),
        }
    }

    fn payloads(spool: &Spool) -> Vec<String> {
        spool
            .read_after(0, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|r| String::from_utf8(r.payload.unwrap()).unwrap())
            .collect()
    }

    fn seqs_after(spool: &Spool, after: u64) -> Vec<u64> {
        spool
            .read_after(after, usize::MAX)
            .unwrap()
            .iter()
            .map(|r| r.seq)
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
        assert_eq!(seqs_after(&s, 0), vec![3, 5]);
        assert_eq!(seqs_after(&s, 3), vec![5]);
        assert_eq!(s.read(3).unwrap(), Some(b"e2".to_vec()));
        assert_eq!(s.read(1).unwrap(), None, "acknowledged");
    }

    #[test]
    fn numbering_goes_on_from_an_empty_segment_when_the_mark_was_not_written() {
        // A crash after the older segments were deleted and before the
        // acknowledgement mark reached the disk leaves only the (empty)
        // active segment: sequence numbers must not start again below it.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(segment_path(dir.path(), 100), b"").unwrap();
        let (mut s, _) = Spool::open(config(dir.path(), 1 << 20)).unwrap();
        assert_eq!(s.append(b"next").unwrap().0, 100);
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
        assert_eq!(rec.truncated_bytes, 0, "not a torn tail");
        assert_eq!(rec.corrupt_ranges, 1);
        assert_eq!(rec.corrupt[0].offset, HEADER + 9);
        assert_eq!(rec.corrupt[0].bytes.len() as u64, HEADER + 9);
        // The record after the corrupt one is kept.
        assert_eq!(payloads(&s), vec!["payload-0", "payload-2"]);
    }

    #[test]
    fn a_record_corrupted_after_opening_is_reported_on_reading_with_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(config(dir.path(), 1 << 20)).unwrap();
        for i in 0..3 {
            s.append(format!("payload-{i}").as_bytes()).unwrap();
        }
        s.sync().unwrap();
        let seg = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "seg"))
            .unwrap();
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes[(HEADER as usize + 9) + HEADER as usize + 2] ^= 0x40;
        std::fs::write(&seg, &bytes).unwrap();
        let records = s.read_after(0, 10).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].payload.as_deref().unwrap(), b"payload-0");
        match &records[1].payload {
            Err(SpoolError::Corrupt { seq, what, raw, .. }) => {
                assert_eq!(*seq, 2);
                assert_eq!(*what, "checksum mismatch");
                assert_eq!(raw.len() as u64, HEADER + 9);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(records[2].payload.as_deref().unwrap(), b"payload-2");
        assert!(matches!(s.read(2), Err(SpoolError::Corrupt { .. })));
    }

    #[test]
    fn sync_due_tracks_the_oldest_unsynced_append_and_an_append_past_it_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let clock = atrium_clock::ManualClock::new(chrono::Utc::now());
        let mut c = config(dir.path(), 1 << 20);
        c.fsync_interval = Duration::from_secs(3600);
        c.clock = clock.shared();
        let (mut s, _) = Spool::open(c).unwrap();
        assert_eq!(s.sync_due(), None);
        let t0 = atrium_clock::Clock::instant(&clock);
        s.append(b"a").unwrap();
        let due = s.sync_due().unwrap();
        assert_eq!(due, t0 + Duration::from_secs(3600));
        clock.advance(Duration::from_secs(3599));
        s.append(b"b").unwrap();
        assert_eq!(
            s.sync_due(),
            Some(due),
            "the oldest append sets the deadline"
        );
        clock.advance(Duration::from_secs(1));
        s.append(b"c").unwrap();
        assert_eq!(
            s.sync_due(),
            None,
            "an append at the deadline syncs before it returns"
        );
        // fsync_interval zero: every append is synced before it returns.
        let dir2 = tempfile::tempdir().unwrap();
        let mut c = config(dir2.path(), 1 << 20);
        c.fsync_interval = Duration::ZERO;
        let (mut s, _) = Spool::open(c).unwrap();
        s.append(b"a").unwrap();
        assert_eq!(s.sync_due(), None);
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
        let seqs = seqs_after(&s, 0);
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
