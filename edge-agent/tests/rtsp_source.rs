//! The RTSP source and decoder against a real RTSP server streaming
//! vtest.avi (as H.264).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::{Duration, Instant};

use atrium_testkit::{RtspCamera, fixture};
use edge_agent::decode::{Decoder, RgbConverter};
use edge_agent::source::VideoCodec;
use edge_agent::source::rtsp::{self, RtspOptions, SourceError};

async fn camera() -> RtspCamera {
    let vtest = fixture("vtest.mp4").unwrap();
    RtspCamera::start(&[("vtest", vtest.as_path())])
        .await
        .unwrap()
}

fn options(cam: &RtspCamera, stall: Duration) -> RtspOptions {
    let mut o = RtspOptions::new(cam.url("vtest").parse().unwrap());
    o.stall_timeout = stall;
    o
}

#[tokio::test]
async fn retina_connects_and_ffmpeg_decodes_more_than_25_frames() {
    let cam = camera().await;
    let mut stream = rtsp::connect(&options(&cam, Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(stream.info().codec, VideoCodec::H264);
    assert_eq!(stream.info().size, Some((768, 576)));

    let mut decoder = Decoder::new(VideoCodec::H264, 1).unwrap();
    let mut rgb = RgbConverter::new(None);
    let mut decoded = 0;
    let mut last_pts = i64::MIN;
    let mut first_key = None;
    while decoded <= 30 {
        let frame = stream.next_frame().await.unwrap();
        first_key.get_or_insert(frame.is_key);
        assert!(frame.pts > last_pts, "timestamps must increase");
        last_pts = frame.pts;
        let mut images = Vec::new();
        decoder
            .decode(&frame, |f| images.push(rgb.convert(f).unwrap()))
            .unwrap();
        for img in images {
            assert_eq!((img.width(), img.height()), (768, 576));
            assert_eq!(img.as_bytes().len(), 768 * 576 * 3);
            decoded += 1;
        }
    }
    assert_eq!(
        first_key,
        Some(true),
        "a shared stream starts at a key frame"
    );
    assert!(decoded > 25);
}

#[tokio::test]
async fn stopped_server_is_an_error_within_10_seconds() {
    let mut cam = camera().await;
    let mut stream = rtsp::connect(&options(&cam, Duration::from_secs(10)))
        .await
        .unwrap();
    stream.next_frame().await.unwrap();
    cam.stop().await;
    let stopped = Instant::now();
    let err = loop {
        match stream.next_frame().await {
            Ok(_) => continue, // frames already in flight
            Err(e) => break e,
        }
    };
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "took {:?}",
        stopped.elapsed()
    );
    assert!(
        matches!(
            err,
            SourceError::Ended { .. } | SourceError::Stream { .. } | SourceError::Stalled { .. }
        ),
        "{err}"
    );

    // The same URL works again once the server is back.
    let refused = rtsp::connect(&options(&cam, Duration::from_secs(10)))
        .await
        .unwrap_err();
    assert!(matches!(refused, SourceError::Connect { .. }), "{refused}");
    cam.restart().await.unwrap();
    let mut again = rtsp::connect(&options(&cam, Duration::from_secs(10)))
        .await
        .unwrap();
    again.next_frame().await.unwrap();
}

#[tokio::test]
async fn frozen_server_is_detected_by_the_stall_timeout() {
    let cam = camera().await;
    let stall = Duration::from_secs(2);
    let mut stream = rtsp::connect(&options(&cam, stall)).await.unwrap();
    stream.next_frame().await.unwrap();
    cam.freeze().unwrap();
    let frozen = Instant::now();
    let err = loop {
        match stream.next_frame().await {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    cam.thaw().unwrap();
    assert!(matches!(err, SourceError::Stalled { secs: 2, .. }), "{err}");
    assert!(frozen.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn missing_stream_and_wrong_port_give_clear_errors() {
    let cam = camera().await;
    let mut o = RtspOptions::new(
        format!("rtsp://user:secret@127.0.0.1:{}/nope", cam.port())
            .parse()
            .unwrap(),
    );
    o.connect_timeout = Duration::from_secs(10);
    let err = rtsp::connect(&o).await.unwrap_err().to_string();
    assert!(err.contains("/nope"), "{err}");
    assert!(
        !err.contains("secret"),
        "credentials leaked into the error: {err}"
    );
}

#[tokio::test]
async fn h265_cameras_are_decoded_too() {
    let clip = fixture("vtest-h265.mp4").unwrap();
    let cam = RtspCamera::start(&[("hevc", clip.as_path())])
        .await
        .unwrap();
    let mut o = RtspOptions::new(cam.url("hevc").parse().unwrap());
    o.stall_timeout = Duration::from_secs(10);
    let mut stream = rtsp::connect(&o).await.unwrap();
    assert_eq!(stream.info().codec, VideoCodec::H265);
    let mut decoder = Decoder::new(VideoCodec::H265, 1).unwrap();
    let mut decoded = 0;
    while decoded <= 25 {
        let frame = stream.next_frame().await.unwrap();
        decoder
            .decode(&frame, |f| {
                assert_eq!((f.width(), f.height()), (768, 576));
                decoded += 1;
            })
            .unwrap();
    }
}
