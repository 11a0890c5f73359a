//! Constant-velocity Kalman filter over (centre x, centre y, aspect ratio,
//! height), as in ByteTrack/DeepSORT, with the time step as a parameter:
//! the edge detects every Nth frame when loaded, so steps vary.
//!
//! Noise scales with the box height (a near person moves more pixels than a
//! far one), per second of elapsed time.

use nalgebra::{SMatrix, SVector};

type State = SVector<f32, 8>;
type Cov = SMatrix<f32, 8, 8>;
type Meas = SVector<f32, 4>;

/// Position noise per unit of height.
const STD_POSITION: f32 = 1.0 / 20.0;
/// Velocity noise per unit of height per second (ByteTrack's 1/160 per
/// frame at 30 fps ≈ 0.19 per second; more here since steps are coarser).
const STD_VELOCITY: f32 = 1.0 / 4.0;

/// Mean and covariance of one track's state.
#[derive(Debug, Clone, PartialEq)]
pub struct KalmanState {
    pub mean: State,
    pub cov: Cov,
}

/// Box in (cx, cy, aspect = w/h, h).
pub fn to_xyah(b: [f32; 4]) -> Meas {
    let w = (b[2] - b[0]).max(1e-3);
    let h = (b[3] - b[1]).max(1e-3);
    Meas::new(b[0] + w / 2.0, b[1] + h / 2.0, w / h, h)
}

/// (cx, cy, aspect, h) → x1, y1, x2, y2.
pub fn to_xyxy(m: &State) -> [f32; 4] {
    let h = m[3].max(1e-3);
    let w = m[2] * h;
    [
        m[0] - w / 2.0,
        m[1] - h / 2.0,
        m[0] + w / 2.0,
        m[1] + h / 2.0,
    ]
}

impl KalmanState {
    /// A new track at `b` with unknown velocity.
    pub fn new(b: [f32; 4]) -> Self {
        let z = to_xyah(b);
        let mut mean = State::zeros();
        mean.fixed_rows_mut::<4>(0).copy_from(&z);
        let h = z[3];
        let std = [
            2.0 * STD_POSITION * h,
            2.0 * STD_POSITION * h,
            1e-2,
            2.0 * STD_POSITION * h,
            10.0 * STD_VELOCITY * h,
            10.0 * STD_VELOCITY * h,
            1e-5,
            10.0 * STD_VELOCITY * h,
        ];
        let cov = Cov::from_diagonal(&State::from_iterator(std.iter().map(|s| s * s)));
        Self { mean, cov }
    }

    /// Advances `dt` seconds.
    pub fn predict(&mut self, dt: f32) {
        let dt = dt.max(0.0);
        let mut f = Cov::identity();
        for i in 0..4 {
            f[(i, i + 4)] = dt;
        }
        let h = self.mean[3].max(1.0);
        let sp = STD_POSITION * h * dt.max(0.05).sqrt();
        let sv = STD_VELOCITY * h * dt.max(0.05).sqrt();
        let q = [sp, sp, 1e-2, sp, sv, sv, 1e-5, sv];
        let q = Cov::from_diagonal(&State::from_iterator(q.iter().map(|s| s * s)));
        self.mean = f * self.mean;
        self.cov = f * self.cov * f.transpose() + q;
    }

    /// Corrects with a measured box.
    pub fn update(&mut self, b: [f32; 4]) {
        let z = to_xyah(b);
        let mut hm = SMatrix::<f32, 4, 8>::zeros();
        for i in 0..4 {
            hm[(i, i)] = 1.0;
        }
        let h = self.mean[3].max(1.0);
        let r = [STD_POSITION * h, STD_POSITION * h, 1e-1, STD_POSITION * h];
        let r = SMatrix::<f32, 4, 4>::from_diagonal(&Meas::from_iterator(r.iter().map(|s| s * s)));
        let s = hm * self.cov * hm.transpose() + r;
        let Some(s_inv) = s.try_inverse() else {
            // A singular innovation covariance cannot happen with positive
            // measurement noise; keep the prediction if it somehow does.
            return;
        };
        let k = self.cov * hm.transpose() * s_inv;
        let y = z - hm * self.mean;
        self.mean += k * y;
        self.cov = (Cov::identity() - k * hm) * self.cov;
    }

    /// The current box estimate.
    pub fn bbox(&self) -> [f32; 4] {
        to_xyxy(&self.mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_constant_velocity_and_predicts_ahead() {
        // A box moving 50 px/s to the right, observed at 10 Hz.
        let at = |t: f32| [100.0 + 50.0 * t, 100.0, 140.0 + 50.0 * t, 200.0];
        let mut k = KalmanState::new(at(0.0));
        for i in 1..=20 {
            k.predict(0.1);
            k.update(at(i as f32 * 0.1));
        }
        assert!((k.mean[4] - 50.0).abs() < 5.0, "velocity {}", k.mean[4]);
        // One second without measurements (an occlusion).
        k.predict(1.0);
        let b = k.bbox();
        let want = at(3.0);
        assert!((b[0] - want[0]).abs() < 8.0, "{b:?} vs {want:?}");
        assert!((b[3] - want[3]).abs() < 3.0);
    }

    #[test]
    fn box_conversions_round_trip() {
        let b = [10.0, 20.0, 50.0, 120.0];
        let z = to_xyah(b);
        let mut s = State::zeros();
        s.fixed_rows_mut::<4>(0).copy_from(&z);
        let back = to_xyxy(&s);
        for i in 0..4 {
            assert!((back[i] - b[i]).abs() < 1e-3);
        }
    }
}
