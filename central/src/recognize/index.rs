//! Face search's first stage in memory: every enrolled template's sign
//! bits (pgvector's `binary_quantize`: bit i is set when dimension i is
//! positive), scanned linearly for the templates nearest in Hamming
//! distance; the database then ranks those few by exact cosine
//! (`store::faces::rerank_sql`).
//!
//! Why not pgvector's HNSW over the same bits (migration 0007): on the
//! 2-core machines a graph step is a buffer-page visit, and at 100 000
//! templates the search took 9 ms at the median and 12 ms at p99, over
//! the 5 ms recognition may spend (issue 15, docs/performance.md). The
//! bits of 100 000 1024-D templates are 13 MB; a scan of them is exact in
//! Hamming distance (no graph to miss the nearest), needs no index build
//! and is updated by a push. Linear cost: at a million templates it takes
//! ten times as long, and the HNSW index is still there for that scale.
//!
//! The database stays the truth. A trigger (migration 0008) notifies
//! [`CHANNEL`] with the id of every template inserted, changed or deleted
//! (`*` after a TRUNCATE: read everything again); [`follow`] listens first, then loads every template, then applies each
//! notification by reading that id again (present: upsert, absent:
//! remove), so a change committed during the load is applied after it and
//! the index converges. While the listener is disconnected the index is
//! marked not ready and recognition falls back to the SQL search, so a
//! missed notification can never hide a template.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use uuid::Uuid;

/// The notification channel migration 0008's trigger fills.
pub const CHANNEL: &str = "atrium_face_templates";

/// A template's sign bits, in `u64` words (the last one zero-padded).
pub type Code = Vec<u64>;

/// The sign bits of `v`, laid out as pgvector's `binary_quantize` lays out
/// its `bit` value (first dimension in the first byte's highest bit), so
/// that a code made here from an observation and one read from the
/// database are comparable.
pub fn sign_bits(v: &[f32]) -> Code {
    let mut bytes = vec![0u8; v.len().div_ceil(8)];
    for (i, x) in v.iter().enumerate() {
        if *x > 0.0 {
            bytes[i / 8] |= 0x80 >> (i % 8);
        }
    }
    pack(&bytes)
}

/// `bit` bytes (pgvector's layout) as a code.
pub fn pack(bytes: &[u8]) -> Code {
    bytes
        .chunks(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(w)
        })
        .collect()
}

/// Templates of one model and dimension: parallel arrays, so the scan
/// reads one contiguous block of words.
#[derive(Debug, Default)]
struct Shard {
    words: usize,
    ids: Vec<Uuid>,
    codes: Vec<u64>,
    at: HashMap<Uuid, usize>,
}

impl Shard {
    fn upsert(&mut self, id: Uuid, code: &[u64]) {
        if let Some(&i) = self.at.get(&id) {
            self.codes[i * self.words..(i + 1) * self.words].copy_from_slice(code);
            return;
        }
        self.at.insert(id, self.ids.len());
        self.ids.push(id);
        self.codes.extend_from_slice(code);
    }

    fn remove(&mut self, id: Uuid) {
        let Some(i) = self.at.remove(&id) else {
            return;
        };
        let last = self.ids.len() - 1;
        self.ids.swap_remove(i);
        if i != last {
            let (w, moved) = (self.words, self.ids[i]);
            self.codes.copy_within(last * w..(last + 1) * w, i * w);
            self.at.insert(moved, i);
        }
        self.codes.truncate(last * self.words);
    }

    /// The `k` templates nearest to `query` in Hamming distance, nearest
    /// first (ties in no particular order).
    fn nearest(&self, query: &[u64], k: usize) -> Vec<Uuid> {
        let mut scored: Vec<(u32, u32)> = self
            .codes
            .chunks_exact(self.words)
            .zip(0u32..)
            .map(|(c, i)| {
                let d = c.iter().zip(query).map(|(a, b)| (a ^ b).count_ones()).sum();
                (d, i)
            })
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Vec::new();
        }
        if k < scored.len() {
            scored.select_nth_unstable(k - 1);
            scored.truncate(k);
        }
        scored.sort_unstable();
        scored
            .into_iter()
            .map(|(_, i)| self.ids[i as usize])
            .collect()
    }
}

/// The templates' sign bits by (model, dimension), and whether they are
/// known to be current.
#[derive(Debug, Default)]
pub struct FaceIndex {
    shards: RwLock<HashMap<(String, usize), Shard>>,
    ready: AtomicBool,
}

impl FaceIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the index holds every committed template (it is loaded and
    /// its listener connected). Not ready: search the database instead.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Templates held (all models).
    pub fn len(&self) -> usize {
        self.shards
            .read()
            .map(|s| s.values().map(|x| x.ids.len()).sum())
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds or replaces a template; `dim` is its vector's dimension and
    /// `code` its sign bits.
    pub fn upsert(&self, id: Uuid, model: &str, dim: usize, code: &[u64]) {
        if code.len() != dim.div_ceil(64) {
            tracing::warn!(%id, model, dim, "face template code of the wrong length, not indexed");
            return;
        }
        let Ok(mut shards) = self.shards.write() else {
            return;
        };
        // A template moved to another model or dimension leaves its old shard.
        for ((m, d), s) in shards.iter_mut() {
            if (m.as_str(), *d) != (model, dim) {
                s.remove(id);
            }
        }
        shards
            .entry((model.to_owned(), dim))
            .or_insert_with(|| Shard {
                words: code.len(),
                ..Shard::default()
            })
            .upsert(id, code);
    }

    pub fn remove(&self, id: Uuid) {
        if let Ok(mut shards) = self.shards.write() {
            for s in shards.values_mut() {
                s.remove(id);
            }
        }
    }

    fn replace_all(&self, templates: Vec<(Uuid, String, usize, Code)>) {
        let mut fresh: HashMap<(String, usize), Shard> = HashMap::new();
        for (id, model, dim, code) in templates {
            if code.len() != dim.div_ceil(64) {
                continue;
            }
            fresh
                .entry((model, dim))
                .or_insert_with(|| Shard {
                    words: code.len(),
                    ..Shard::default()
                })
                .upsert(id, &code);
        }
        if let Ok(mut shards) = self.shards.write() {
            *shards = fresh;
        }
    }

    /// The ids of the `k` templates of `model` nearest to `embedding` by
    /// their sign bits, nearest first; `None` when the index is not
    /// ready (the caller searches the database).
    pub fn candidates(&self, model: &str, embedding: &[f32], k: usize) -> Option<Vec<Uuid>> {
        if !self.is_ready() {
            return None;
        }
        let shards = self.shards.read().ok()?;
        let query = sign_bits(embedding);
        // No shard: no template of this model and dimension, so none to propose.
        Some(
            shards
                .get(&(model.to_owned(), embedding.len()))
                .map_or_else(Vec::new, |s| s.nearest(&query, k)),
        )
    }
}

/// Every template's id, model, dimension and sign bits.
const LOAD_ALL: &str =
    "SELECT id, model, vector_dims(embedding), binary_quantize(embedding) FROM face_templates";
/// One template's, if it exists.
const LOAD_ONE: &str = "SELECT id, model, vector_dims(embedding), binary_quantize(embedding) FROM face_templates WHERE id = $1";

fn row(r: &tokio_postgres::Row) -> Result<(Uuid, String, usize, Code), tokio_postgres::Error> {
    let dim: i32 = r.try_get(2)?;
    let bits: pgvector::Bit = r.try_get(3)?;
    Ok((
        r.try_get(0)?,
        r.try_get(1)?,
        usize::try_from(dim).unwrap_or(0),
        pack(bits.as_bytes()),
    ))
}

async fn load_all(
    client: &tokio_postgres::Client,
) -> Result<Vec<(Uuid, String, usize, Code)>, tokio_postgres::Error> {
    client.query(LOAD_ALL, &[]).await?.iter().map(row).collect()
}

/// Keeps `index` equal to the `face_templates` table until `stop`:
/// listen, load everything, then apply every change notified; on a lost
/// connection, mark the index not ready and start again after 2 s.
pub async fn follow(
    config: tokio_postgres::Config,
    index: std::sync::Arc<FaceIndex>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use futures::StreamExt;
    loop {
        let attempt = async {
            let (client, mut conn) = config.connect(tokio_postgres::NoTls).await?;
            let (ids_tx, mut ids) = tokio::sync::mpsc::unbounded_channel::<String>();
            let driver = atrium_worker::spawn(async move {
                let mut stream = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
                while let Some(m) = stream.next().await {
                    match m {
                        Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                            if ids_tx.send(n.payload().to_owned()).is_err() {
                                break;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "face index listener connection lost");
                            break;
                        }
                    }
                }
            });
            client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
            let started = std::time::Instant::now(); // a measurement
            let all = load_all(&client).await?;
            let loaded = all.len();
            index.replace_all(all);
            // Notifications of changes committed during the load wait in
            // `ids` and are applied next, by reading each id again.
            index.set_ready(true);
            tracing::info!(
                templates = loaded,
                took_ms = started.elapsed().as_millis() as u64,
                "face index loaded"
            );
            while let Some(payload) = ids.recv().await {
                if payload == "*" {
                    // The table was truncated: read it all again.
                    index.replace_all(load_all(&client).await?);
                    continue;
                }
                let Ok(id) = Uuid::parse_str(&payload) else {
                    tracing::warn!(payload, "unreadable face template notification");
                    continue;
                };
                match client.query_opt(LOAD_ONE, &[&id]).await? {
                    Some(r) => {
                        let (id, model, dim, code) = row(&r)?;
                        index.upsert(id, &model, dim, &code);
                    }
                    None => index.remove(id),
                }
            }
            driver.abort();
            Ok::<(), tokio_postgres::Error>(())
        };
        tokio::select! {
            r = attempt => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "face index not following the database; searching there until it is");
                }
            }
            _ = stop.changed() => {
                index.set_ready(false);
                return;
            }
        }
        index.set_ready(false);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random vector (xorshift), so the test needs
    /// no random crate and fails the same way every time.
    fn vector(seed: u64, dim: usize) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..dim)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// The oracle: Hamming distance counted sign by sign on the vectors.
    fn hamming(a: &[f32], b: &[f32]) -> u32 {
        a.iter()
            .zip(b)
            .filter(|(x, y)| (**x > 0.0) != (**y > 0.0))
            .count() as u32
    }

    #[test]
    fn sign_bits_follow_pgvectors_layout() {
        let mut v = vec![-1.0f32; 70];
        v[0] = 0.5; // first byte's highest bit
        v[9] = 2.0; // second byte, second bit
        v[69] = 1.0; // ninth byte
        let code = sign_bits(&v);
        assert_eq!(code.len(), 2);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&code[0].to_le_bytes());
        bytes[8..].copy_from_slice(&code[1].to_le_bytes());
        assert_eq!(bytes[0], 0x80);
        assert_eq!(bytes[1], 0x40);
        assert_eq!(bytes[8], 0x04);
        assert_eq!(bytes.iter().map(|b| b.count_ones()).sum::<u32>(), 3);
        // Zero is not positive, as in binary_quantize.
        assert_eq!(sign_bits(&[0.0, -0.0]), vec![0]);
    }

    #[test]
    fn nearest_matches_a_sign_by_sign_count() {
        let dim = 100;
        let index = FaceIndex::new();
        let vectors: Vec<(Uuid, Vec<f32>)> = (0..500)
            .map(|i| (Uuid::from_u128(i as u128 + 1), vector(i, dim)))
            .collect();
        for (id, v) in &vectors {
            index.upsert(*id, "m", dim, &sign_bits(v));
        }
        assert_eq!(
            index.candidates("m", &vectors[0].1, 5),
            None,
            "not ready yet"
        );
        index.set_ready(true);
        for q in 1000..1010 {
            let query = vector(q, dim);
            let got = index.candidates("m", &query, 7).unwrap();
            let mut want: Vec<u32> = vectors.iter().map(|(_, v)| hamming(v, &query)).collect();
            want.sort_unstable();
            let got_d: Vec<u32> = got
                .iter()
                .map(|id| {
                    let v = &vectors.iter().find(|(i, _)| i == id).unwrap().1;
                    hamming(v, &query)
                })
                .collect();
            assert_eq!(got_d, want[..7], "query {q}");
        }
        // Other models and dimensions are other shards.
        assert_eq!(index.candidates("other", &vectors[0].1, 5), Some(vec![]));
        assert_eq!(index.candidates("m", &vector(1, 64), 5), Some(vec![]));
        assert_eq!(index.len(), 500);
    }

    #[test]
    fn removal_and_replacement_keep_the_arrays_consistent() {
        let dim = 130;
        let index = FaceIndex::new();
        index.set_ready(true);
        let ids: Vec<Uuid> = (1..=4).map(Uuid::from_u128).collect();
        let vs: Vec<Vec<f32>> = (0..4).map(|i| vector(i, dim)).collect();
        for (id, v) in ids.iter().zip(&vs) {
            index.upsert(*id, "m", dim, &sign_bits(v));
        }
        // Removing the first moves the last into its place.
        index.remove(ids[0]);
        assert_eq!(index.len(), 3);
        for (id, v) in ids.iter().zip(&vs).skip(1) {
            assert_eq!(index.candidates("m", v, 1), Some(vec![*id]));
        }
        // A template given a new vector is found by the new one.
        let fresh = vector(99, dim);
        index.upsert(ids[3], "m", dim, &sign_bits(&fresh));
        assert_eq!(index.candidates("m", &fresh, 1), Some(vec![ids[3]]));
        assert_eq!(index.len(), 3);
        // One moved to another model leaves the first.
        index.upsert(ids[3], "n", dim, &sign_bits(&fresh));
        assert_eq!(index.len(), 3);
        assert!(!index.candidates("m", &fresh, 3).unwrap().contains(&ids[3]));
        // A code of the wrong length is refused, not indexed.
        index.upsert(Uuid::from_u128(77), "m", dim, &[0]);
        assert_eq!(index.len(), 3);
        index.remove(Uuid::from_u128(12345));
        assert_eq!(index.len(), 3);
    }
}
