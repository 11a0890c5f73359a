//! Boxes, points and non-maximum suppression.

use serde::{Deserialize, Serialize};

/// A point in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

impl Point {
    pub fn new(x: f32, y: f32) -> Self {
        Self { x, y }
    }

    pub fn distance(self, other: Point) -> f32 {
        ((self.x - other.x).powi(2) + (self.y - other.y).powi(2)).sqrt()
    }

    pub fn midpoint(self, other: Point) -> Point {
        Point::new((self.x + other.x) / 2.0, (self.y + other.y) / 2.0)
    }
}

/// An axis-aligned box in image pixels, corners (x1, y1) top-left and
/// (x2, y2) bottom-right.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }

    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    pub fn centre(&self) -> Point {
        Point::new((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)
    }

    /// Intersection over union; 0 for disjoint or empty boxes.
    pub fn iou(&self, other: &BBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// The box clipped to `0..width` × `0..height`.
    pub fn clip(&self, width: f32, height: f32) -> BBox {
        BBox::new(
            self.x1.clamp(0.0, width),
            self.y1.clamp(0.0, height),
            self.x2.clamp(0.0, width),
            self.y2.clamp(0.0, height),
        )
    }

    /// A square box with the same centre whose side is `scale` times the
    /// longer side of this one.
    pub fn square(&self, scale: f32) -> BBox {
        let c = self.centre();
        let half = self.width().max(self.height()) * scale / 2.0;
        BBox::new(c.x - half, c.y - half, c.x + half, c.y + half)
    }
}

/// Greedy non-maximum suppression: keeps the highest-scoring box, drops every
/// box of the same class overlapping it by more than `iou`, repeats.
/// `items` are `(box, score, class)`; returns kept indices, best first.
pub fn nms(items: &[(BBox, f32, u32)], iou: f32, max_keep: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| items[b].1.total_cmp(&items[a].1));
    let mut keep: Vec<usize> = Vec::new();
    for i in order {
        if keep.len() >= max_keep {
            break;
        }
        let (bi, _, ci) = &items[i];
        if keep
            .iter()
            .all(|&k| items[k].2 != *ci || items[k].0.iou(bi) <= iou)
        {
            keep.push(i);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 30.0, 30.0)), 0.0);
        let half = BBox::new(5.0, 0.0, 15.0, 10.0);
        assert!((a.iou(&half) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(BBox::default().iou(&BBox::default()), 0.0);
    }

    #[test]
    fn nms_keeps_best_of_overlapping_and_all_of_separate() {
        let items = vec![
            (BBox::new(0.0, 0.0, 10.0, 10.0), 0.6, 0),
            (BBox::new(1.0, 1.0, 11.0, 11.0), 0.9, 0),
            (BBox::new(50.0, 50.0, 60.0, 60.0), 0.5, 0),
            // Same place as the best, other class: kept.
            (BBox::new(1.0, 1.0, 11.0, 11.0), 0.4, 2),
        ];
        assert_eq!(nms(&items, 0.5, 10), vec![1, 2, 3]);
        assert_eq!(nms(&items, 0.5, 2), vec![1, 2]);
        // With a threshold above their overlap both overlapping boxes stay.
        assert_eq!(nms(&items, 0.99, 10), vec![1, 0, 2, 3]);
    }

    #[test]
    fn square_and_clip() {
        let b = BBox::new(10.0, 20.0, 30.0, 60.0).square(1.0);
        assert_eq!((b.width(), b.height()), (40.0, 40.0));
        assert_eq!(b.centre(), Point::new(20.0, 40.0));
        assert_eq!(
            BBox::new(-5.0, -5.0, 200.0, 50.0).clip(100.0, 100.0),
            BBox::new(0.0, 0.0, 100.0, 50.0)
        );
    }
}
