//! Raw detector outputs → candidate boxes in model-input pixels. Pure
//! functions, so the YOLO layout is tested without YOLO weights.

use crate::detect::DetectorConfig;
use crate::geometry::BBox;

/// A candidate: box in input pixels, score, class.
pub type Candidate = (BBox, f32, u32);

/// CenterNet `detections` [1, K, 6]: x1, y1, x2, y2, score, class.
pub fn decode_centernet(
    dims: &[i64],
    data: &[f32],
    cfg: &DetectorConfig,
) -> Result<Vec<Candidate>, String> {
    if dims.len() != 3 || dims[2] != 6 || data.len() != (dims[1].max(0) as usize) * 6 {
        return Err(format!("CenterNet output is {dims:?}, expected [1, K, 6]"));
    }
    Ok(data
        .chunks_exact(6)
        .filter_map(|r| {
            let class = r[5].round();
            if !(0.0..=f32::from(u16::MAX)).contains(&class) {
                return None;
            }
            let class = class as u32;
            (r[4] >= cfg.score && cfg.classes.contains(&class))
                .then(|| (BBox::new(r[0], r[1], r[2], r[3]), r[4], class))
        })
        .collect())
}

/// The person-only CenterNet head (`human_centernet_person`, made by
/// models/convert/person_head.py): `heatmap` [1, h, w, 1] (sigmoid scores)
/// and `wh` [1, h, w, 4] on a grid of stride 4. The decoding the original
/// graph did in-graph, for the person class (models/convert/
/// person_decode.py states it node by node):
///
/// * a cell is a peak when its score equals the maximum of the 3 × 3 cells
///   around it (clipped at the border), every cell of a plateau included;
/// * peaks at or above the score threshold, highest first (equal scores:
///   the lower `row · w + col` first), at most [`PERSON_TOP_K`];
/// * box: `wh` holds the distances, in input pixels, from the cell's grid
///   point (4 · col, 4 · row) to the box's left, top, right and bottom:
///   x1 = 4c − l, y1 = 4r − t, x2 = 4c + r, y2 = 4r + b.
///
/// The original kept the top 100 over all 80 classes, so on a crowded
/// frame a weak person could fall out of its list; here only persons
/// compete.
pub fn decode_centernet_person(
    heat_dims: &[i64],
    heat: &[f32],
    wh_dims: &[i64],
    wh: &[f32],
    cfg: &DetectorConfig,
) -> Result<Vec<Candidate>, String> {
    let (h, w) = match (heat_dims, wh_dims) {
        ([1, h, w, 1], [1, h2, w2, 4]) if h == h2 && w == w2 && *h > 0 && *w > 0 => {
            (*h as usize, *w as usize)
        }
        _ => {
            return Err(format!(
                "person CenterNet outputs are {heat_dims:?} and {wh_dims:?}, expected [1, h, w, 1] and [1, h, w, 4]"
            ));
        }
    };
    if heat.len() != h * w || wh.len() != h * w * 4 {
        return Err(format!(
            "person CenterNet outputs hold {} and {} values for a {h} x {w} grid",
            heat.len(),
            wh.len()
        ));
    }
    if !cfg.classes.contains(&0) {
        return Ok(Vec::new());
    }
    let mut peaks: Vec<(f32, usize)> = Vec::new();
    for r in 0..h {
        for c in 0..w {
            let s = heat[r * w + c];
            if s < cfg.score {
                continue;
            }
            let peak = (r.saturating_sub(1)..(r + 2).min(h))
                .all(|rr| (c.saturating_sub(1)..(c + 2).min(w)).all(|cc| heat[rr * w + cc] <= s));
            if peak {
                peaks.push((s, r * w + c));
            }
        }
    }
    peaks.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    peaks.truncate(PERSON_TOP_K);
    Ok(peaks
        .into_iter()
        .map(|(s, i)| {
            let (r, c) = ((i / w) as f32, (i % w) as f32);
            let d = &wh[i * 4..i * 4 + 4];
            (
                BBox::new(
                    4.0 * c - d[0],
                    4.0 * r - d[1],
                    4.0 * c + d[2],
                    4.0 * r + d[3],
                ),
                s,
                0,
            )
        })
        .collect())
}

/// Peaks the person head keeps at most (the original's list length).
pub const PERSON_TOP_K: usize = 100;

/// Ultralytics [1, 4 + C, N]: per anchor, centre x, centre y, width, height
/// and C class scores; rows are attributes, columns anchors. Each anchor
/// becomes at most one candidate: its best class among the wanted ones.
pub fn decode_yolo(
    dims: &[i64],
    data: &[f32],
    cfg: &DetectorConfig,
) -> Result<Vec<Candidate>, String> {
    if dims.len() != 3 || dims[1] < 5 || dims[2] < 0 {
        return Err(format!(
            "YOLO output is {dims:?}, expected [1, 4 + classes, N]"
        ));
    }
    let (rows, n) = (dims[1] as usize, dims[2] as usize);
    if data.len() != rows * n {
        return Err(format!(
            "YOLO output holds {} values, {dims:?} needs {}",
            data.len(),
            rows * n
        ));
    }
    let classes = rows - 4;
    let attr = |row: usize, j: usize| data[row * n + j];
    let mut out = Vec::new();
    for j in 0..n {
        let best = cfg
            .classes
            .iter()
            .filter(|&&c| (c as usize) < classes)
            .map(|&c| (attr(4 + c as usize, j), c))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let Some((score, class)) = best else { continue };
        if score < cfg.score {
            continue;
        }
        let (cx, cy, w, h) = (attr(0, j), attr(1, j), attr(2, j), attr(3, j));
        out.push((
            BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0),
            score,
            class,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DetectorConfig {
        DetectorConfig {
            score: 0.5,
            ..Default::default()
        }
    }

    #[test]
    fn centernet_keeps_confident_people_only() {
        let data = [
            10.0, 20.0, 30.0, 60.0, 0.9, 0.0, // person
            10.0, 20.0, 30.0, 60.0, 0.9, 2.0, // car
            10.0, 20.0, 30.0, 60.0, 0.2, 0.0, // weak person
        ];
        let c = decode_centernet(&[1, 3, 6], &data, &cfg()).unwrap();
        assert_eq!(c, vec![(BBox::new(10.0, 20.0, 30.0, 60.0), 0.9, 0)]);
        assert!(decode_centernet(&[1, 3, 5], &data[..15], &cfg()).is_err());
    }

    #[test]
    fn person_head_keeps_local_maxima_above_the_score_with_their_boxes() {
        // A 4 x 5 grid. Peaks: (1,1) 0.9, a plateau of two 0.7 cells at
        // (3,3) and (3,4) (both count, as in the original graph), and
        // (0,4) 0.6 at a corner. (1,2) 0.8 is beside a higher cell, (2,0)
        // 0.4 is under the threshold.
        let (h, w) = (4usize, 5usize);
        let mut heat = vec![0.0f32; h * w];
        for (r, c, v) in [
            (1, 1, 0.9),
            (1, 2, 0.8),
            (3, 3, 0.7),
            (3, 4, 0.7),
            (0, 4, 0.6),
            (2, 0, 0.4),
        ] {
            heat[r * w + c] = v;
        }
        let mut wh = vec![0.0f32; h * w * 4];
        for (i, d) in wh.chunks_exact_mut(4).enumerate() {
            d.copy_from_slice(&[1.0 + i as f32, 2.0, 3.0, 4.0]);
        }
        let dims = [1, h as i64, w as i64, 1];
        let wdims = [1, h as i64, w as i64, 4];
        let c = decode_centernet_person(&dims, &heat, &wdims, &wh, &cfg()).unwrap();
        let got: Vec<(f32, f32, f32)> = c.iter().map(|(b, s, _)| (*s, b.x1, b.y1)).collect();
        // (1,1): grid point (4, 4), l = 1 + 6.
        assert_eq!(got[0], (0.9, 4.0 - 7.0, 4.0 - 2.0));
        assert_eq!(c[0].0.x2, 4.0 + 3.0);
        assert_eq!(c[0].0.y2, 4.0 + 4.0);
        // The plateau, lower index first, then the corner.
        assert_eq!(got[1].0, 0.7);
        assert_eq!(got[1].1, 12.0 - (1.0 + 18.0));
        assert_eq!(got[2].1, 16.0 - (1.0 + 19.0));
        assert_eq!(got[3], (0.6, 16.0 - 5.0, -2.0));
        assert_eq!(c.len(), 4);
        assert!(c.iter().all(|(_, _, class)| *class == 0));
        // Persons not wanted: nothing. Wrong shapes: an error.
        let cars = DetectorConfig {
            classes: vec![2],
            ..cfg()
        };
        assert!(
            decode_centernet_person(&dims, &heat, &wdims, &wh, &cars)
                .unwrap()
                .is_empty()
        );
        assert!(decode_centernet_person(&dims, &heat, &[1, 4, 5, 2], &wh, &cfg()).is_err());
        assert!(decode_centernet_person(&dims, &heat[1..], &wdims, &wh, &cfg()).is_err());
    }

    #[test]
    fn yolo_columns_are_anchors_and_rows_are_attributes() {
        // 2 classes (person, bicycle), 3 anchors.
        #[rustfmt::skip]
        let data = [
            // cx     cx     cx
            100.0, 300.0, 500.0,
            // cy
            200.0, 200.0, 200.0,
            // w
            40.0, 40.0, 40.0,
            // h
            80.0, 80.0, 80.0,
            // person scores
            0.8, 0.1, 0.6,
            // bicycle scores
            0.1, 0.9, 0.7,
        ];
        let c = decode_yolo(&[1, 6, 3], &data, &cfg()).unwrap();
        assert_eq!(
            c,
            vec![
                (BBox::new(80.0, 160.0, 120.0, 240.0), 0.8, 0),
                (BBox::new(480.0, 160.0, 520.0, 240.0), 0.6, 0),
            ]
        );
        let both = DetectorConfig {
            classes: vec![0, 1],
            ..cfg()
        };
        let c = decode_yolo(&[1, 6, 3], &data, &both).unwrap();
        assert_eq!(c.iter().map(|x| x.2).collect::<Vec<_>>(), vec![0, 1, 1]);
    }

    #[test]
    fn yolo_refuses_a_wrong_layout() {
        assert!(decode_yolo(&[1, 4, 3], &[0.0; 12], &cfg()).is_err());
        assert!(decode_yolo(&[1, 6, 3], &[0.0; 17], &cfg()).is_err());
    }
}
