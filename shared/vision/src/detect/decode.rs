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
