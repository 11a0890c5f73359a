//! Shared set-up for the vision golden tests.

#![allow(dead_code)]

use atrium_testkit::{fixture, onnxruntime_library, workspace_root};
use atrium_vision::image::{DecodeLimits, decode};
use atrium_vision::{Models, RgbImage, RuntimeOptions};

pub fn runtime() -> RuntimeOptions {
    RuntimeOptions {
        library: Some(onnxruntime_library()),
        ..Default::default()
    }
}

pub fn models() -> Models {
    Models::open(&workspace_root().join("models"), runtime()).unwrap()
}

/// The six face-api demo photos, in order.
pub fn demo_photos() -> Vec<(String, RgbImage)> {
    (1..=6)
        .map(|i| {
            let name = format!("faces/sample{i}.jpg");
            let bytes = std::fs::read(fixture(&name).unwrap()).unwrap();
            (name, decode(&bytes, DecodeLimits::default()).unwrap())
        })
        .collect()
}
