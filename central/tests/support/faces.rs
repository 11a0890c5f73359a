//! Faces for tests: the demo photos, single-face crops, and observations
//! embedded with the shared vision code the way the edge embeds them.

use atrium_proto::event::{EventBody, WireEmbedding};
use atrium_vision::face::Jitter;
use atrium_vision::{Face, Models, RgbImage};

use super::{Api, event, json};

pub fn models() -> Models {
    Models::open(
        &atrium_testkit::workspace_root().join("models"),
        atrium_vision::RuntimeOptions {
            library: Some(atrium_testkit::onnxruntime_library()),
            ..Default::default()
        },
    )
    .unwrap()
}

pub fn photo(n: usize) -> (Vec<u8>, RgbImage) {
    let bytes =
        std::fs::read(atrium_testkit::fixture(&format!("faces/sample{n}.jpg")).unwrap()).unwrap();
    let img = atrium_vision::image::decode(&bytes, Default::default()).unwrap();
    (bytes, img)
}

pub fn png(img: &image::RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A square crop of `scale` face boxes around `face`, as PNG.
pub fn crop(img: &RgbImage, face: &Face, scale: f32) -> Vec<u8> {
    img.crop(face.bbox.square(scale)).unwrap().to_png().unwrap()
}

/// Jittered embeddings of one face, as the edge would send them.
pub fn observations(models: &Models, img: &RgbImage, face: &Face, n: usize) -> Vec<Vec<f32>> {
    observations_of(models, None, img, face, n)
}

/// As [`observations`], with embedder `model` (default: the manifest's).
pub fn observations_of(
    models: &Models,
    model: Option<&str>,
    img: &RgbImage,
    face: &Face,
    n: usize,
) -> Vec<Vec<f32>> {
    let mut embedder = models.face_embedder_by_id(model).unwrap();
    let items: Vec<(Face, Jitter)> = (0..n)
        .map(|i| {
            let k = i as f32 - n as f32 / 2.0;
            (
                *face,
                Jitter {
                    dx: 0.012 * k,
                    dy: -0.01 * k,
                    scale: 1.0 + 0.01 * k,
                },
            )
        })
        .collect();
    embedder
        .embed_jittered(&img.view(), &items)
        .unwrap()
        .into_iter()
        .map(|e| e.values)
        .collect()
}

pub fn face_observed(camera: &str, track: u64, values: &[f32]) -> Vec<u8> {
    face_observed_as(camera, track, "human_faceres", values)
}

/// A face observation whose embedding claims model `model`.
pub fn face_observed_as(camera: &str, track: u64, model: &str, values: &[f32]) -> Vec<u8> {
    json(&event(
        camera,
        EventBody::FaceObserved {
            track,
            quality: 0.9,
            bbox: [10.0, 10.0, 90.0, 90.0],
            embedding: WireEmbedding::encode(model, values),
        },
    ))
}

pub async fn multipart(
    api: &Api,
    path: &str,
    token: &str,
    bytes: Vec<u8>,
    name: &str,
) -> (u16, serde_json::Value) {
    let form = reqwest::multipart::Form::new().part(
        "photo",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
    );
    let r = api
        .http
        .post(api.url(path))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}
