//! Recognition end to end: faces of the demo photos enrolled with
//! `central admin person import`, the face clip (the same photos with
//! scale, brightness and position wobbling between frames) streamed over
//! RTSP → edge-agent → Mosquitto → central, and every decided track
//! checked against where its face was in which photo.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use atrium_proto::event::EventBody;
use atrium_testkit::{Mosquitto, Postgres, RtspCamera, fixture, workspace_root};
use atrium_tests::{CentralServer, CentralSetup, EdgeAgent, EdgeSetup, Observer, central_cli};
use atrium_vision::{Models, RgbImage};

/// Photos whose faces are enrolled; photo 6's faces never are.
const ENROLLED_PHOTOS: usize = 5;
/// The clip shows each photo for 3 s.
const PHOTO_MS: i64 = 3000;
/// Clip geometry (scripts/setup): scaled to 1320 wide, cropped to 1280 at
/// x ≈ 20 (±12), y ≈ 8 (±8), padded to 1024 high.
const CLIP_W: f32 = 1320.0;

fn models() -> Models {
    Models::open(
        &workspace_root().join("models"),
        atrium_vision::RuntimeOptions {
            library: Some(atrium_testkit::onnxruntime_library()),
            ..Default::default()
        },
    )
    .unwrap()
}

/// One enrolled face: its person's name and where it is in its photo.
struct Enrolled {
    name: String,
    photo: usize,
    centre: (f32, f32),
    width: f32,
}

/// Writes DIR/<name>/face.png for each face of photos 1..=5: a crop that
/// holds exactly that face (checked with the detector).
fn enrolment_dir(dir: &Path) -> (Vec<Enrolled>, Vec<(usize, RgbImage)>) {
    let models = models();
    let mut detector = models.face_detector().unwrap();
    let mut enrolled = Vec::new();
    let mut photos = Vec::new();
    for n in 1..=6 {
        let bytes = std::fs::read(fixture(&format!("faces/sample{n}.jpg")).unwrap()).unwrap();
        let img = atrium_vision::image::decode(&bytes, Default::default()).unwrap();
        let faces = detector.detect(&img.view(), None).unwrap();
        if n <= ENROLLED_PHOTOS {
            let min_quality = models.min_face_quality().unwrap();
            for (i, f) in faces.iter().enumerate() {
                // A profile is refused at enrolment (tested elsewhere).
                let q =
                    atrium_vision::face::quality::assess(&img.view(), f, &models.quality_config());
                if q.overall < min_quality {
                    continue;
                }
                let b = f.bbox;
                let crop = [2.0f32, 1.6, 1.3].iter().find_map(|scale| {
                    let c = img.crop(b.square(*scale))?;
                    (detector.detect(&c.view(), None).unwrap().len() == 1).then_some(c)
                });
                let Some(crop) = crop else { continue };
                let name = format!("photo{n}-face{i}");
                std::fs::create_dir_all(dir.join(&name)).unwrap();
                std::fs::write(dir.join(&name).join("face.png"), crop.to_png().unwrap()).unwrap();
                enrolled.push(Enrolled {
                    name,
                    photo: n,
                    centre: (b.centre().x, b.centre().y),
                    width: b.width(),
                });
            }
        }
        photos.push((n, img));
    }
    (enrolled, photos)
}

/// A face box in the clip, mapped back to its photo's pixels.
fn to_photo(bbox: &[f32], photo: &RgbImage) -> (f32, f32) {
    let s = CLIP_W / photo.width() as f32;
    let scaled_h = (photo.height() as f32 * s / 2.0).round() * 2.0;
    let crop_h = (scaled_h - 16.0).min(1024.0);
    let pad_y = (1024.0 - crop_h) / 2.0;
    let (cx, cy) = ((bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0);
    ((cx + 20.0) / s, (cy - pad_y + 8.0) / s)
}

#[tokio::test]
async fn enrolled_faces_are_recognised_and_strangers_stay_unknown() {
    let (pg, broker) = tokio::join!(Postgres::start(), Mosquitto::start());
    let (pg, broker) = (pg.unwrap(), broker.unwrap());
    let clip = fixture("faces.mp4").unwrap();
    let cam = RtspCamera::start(&[("faces", clip.as_path())])
        .await
        .unwrap();
    let db = pg.url();
    let work = tempfile::tempdir().unwrap();

    central_cli(&["migrate", "--database-url", &db]);
    central_cli(&[
        "admin",
        "--database-url",
        &db,
        "camera",
        "add",
        "--id",
        "cam-faces",
        "--site",
        "hq",
        "--name",
        "Lobby",
    ]);

    // Bulk enrolment through the CLI.
    let people = work.path().join("people");
    let (enrolled, photos) = enrolment_dir(&people);
    assert!(
        enrolled.len() >= 12,
        "only {} faces to enrol",
        enrolled.len()
    );
    let models_dir = workspace_root().join("models");
    let ort = atrium_testkit::onnxruntime_library();
    let import = |dir: &Path| {
        std::process::Command::new(atrium_tests::binary("central"))
            .args(["admin", "--database-url", &db, "person", "import"])
            .arg(dir)
            .arg("--models-dir")
            .arg(&models_dir)
            .arg("--onnxruntime")
            .arg(&ort)
            .output()
            .unwrap()
    };
    let out = import(&people);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{0} of {0} photos enrolled", enrolled.len())),
        "{stdout}"
    );
    // A folder with a group photo and a non-image: both refused, with
    // reasons, and the exit status says so.
    let bad = work.path().join("bad");
    std::fs::create_dir_all(bad.join("Group")).unwrap();
    std::fs::copy(
        fixture("faces/sample1.jpg").unwrap(),
        bad.join("Group/group.jpg"),
    )
    .unwrap();
    std::fs::write(bad.join("Group/notes.jpg"), b"not a photo").unwrap();
    let out = import(&bad);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("several_faces") && stdout.contains("not_an_image"),
        "{stdout}"
    );
    assert!(stdout.contains("0 of 2 photos enrolled"), "{stdout}");

    let config = CentralSetup {
        database_url: db.clone(),
        broker_port: broker.port(),
        tls: broker.identity("central").unwrap(),
        listen: "127.0.0.1:0".into(),
        secure_cookies: true,
        client_id: None,
    }
    .write(work.path());
    let _central = CentralServer::start(work.path(), &config);

    let observer = Observer::start(&broker).await;
    let edge_dir = tempfile::tempdir().unwrap();
    let edge_config = EdgeSetup::new(
        "cam-faces",
        &cam.url("faces"),
        broker.port(),
        broker.identity("cam-faces").unwrap(),
    )
    .section("faces", "enabled = true\ninterval_s = 0.5")
    .write(edge_dir.path());
    let agent = EdgeAgent::start(edge_dir.path(), &edge_config);
    let (done, _) = observer
        .wait_for(Duration::from_secs(90), |s| {
            s.events
                .iter()
                .any(|e| e.stream_ms.is_some_and(|m| m > 6 * PHOTO_MS + 500))
        })
        .await;
    assert!(done, "{}", agent.log());
    drop(agent);
    // Recognition runs in the transaction that stores an observation:
    // once every published observation is stored, every vote is counted.
    let published: HashSet<uuid::Uuid> = observer
        .snapshot()
        .events
        .iter()
        .filter(|e| matches!(e.body, EventBody::FaceObserved { .. }))
        .map(|e| e.id)
        .collect();
    let client = pg.connect().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let stored: i64 = client
            .query_one("SELECT count(*) FROM face_observations", &[])
            .await
            .unwrap()
            .get(0);
        if stored as usize >= published.len() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{stored} of {} observations stored",
            published.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Per observation: how often a stranger's face voted for someone.
    let votes = client
        .query_one(
            "SELECT count(*), count(v.person_id) FROM face_votes v JOIN events e ON e.id = v.event_id
             WHERE (e.payload ->> 'stream_ms')::bigint BETWEEN $1 AND $2",
            // Photo 6 (the clip then loops back to photo 1).
            &[
                &(ENROLLED_PHOTOS as i64 * PHOTO_MS + 500),
                &(6 * PHOTO_MS - 1),
            ],
        )
        .await
        .unwrap();
    let (stranger_obs, stranger_votes): (i64, i64) = (votes.get(0), votes.get(1));
    let rows = client
        .query(
            "SELECT r.track, r.status, p.name, r.confidence, r.observations, o.bbox,
                    (e.payload ->> 'stream_ms')::bigint
             FROM face_recognitions r
             LEFT JOIN persons p ON p.id = r.person_id
             JOIN face_observations o ON o.event_id = r.best_face_event_id
             JOIN events e ON e.id = r.best_face_event_id
             ORDER BY r.ts",
            &[],
        )
        .await
        .unwrap();
    let (mut known, mut correct, mut wrong, mut unknown_known) = (0, 0, 0, 0);
    let (mut strangers, mut false_accepts) = (0, 0);
    let mut report = String::new();
    for r in &rows {
        let (track, status, name): (i64, String, Option<String>) = (r.get(0), r.get(1), r.get(2));
        let (confidence, n): (f32, i32) = (r.get(3), r.get(4));
        let bbox: Vec<f32> = r.get(5);
        // The clip loops: after photo 6 comes photo 1 again.
        let photo = (r.get::<_, i64>(6) / PHOTO_MS) as usize % 6 + 1;
        let Some((_, img)) = photos.iter().find(|p| p.0 == photo) else {
            continue;
        };
        let (x, y) = to_photo(&bbox, img);
        let truth = enrolled
            .iter()
            .filter(|e| e.photo == photo)
            .map(|e| (e, (e.centre.0 - x).hypot(e.centre.1 - y)))
            .filter(|(e, d)| *d < 0.6 * e.width)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(e, _)| e.name.clone());
        report.push_str(&format!(
            "track {track} photo {photo}: {status} {name:?} conf {confidence:.2} obs {n}; truth {truth:?}\n"
        ));
        if photo > ENROLLED_PHOTOS {
            strangers += 1;
            if status == "recognized" {
                false_accepts += 1;
            }
            continue;
        }
        let Some(truth) = truth else { continue };
        known += 1;
        match (status.as_str(), name) {
            ("recognized", Some(n)) if n == truth => correct += 1,
            ("recognized", _) => wrong += 1,
            _ => unknown_known += 1,
        }
    }
    println!("{report}");
    println!(
        "identification rate {correct}/{known} = {:.2} ({wrong} wrong, {unknown_known} unknown); false-accept rate {false_accepts}/{strangers} tracks = {:.2}, {stranger_votes}/{stranger_obs} observations of never-enrolled faces voted for someone",
        correct as f64 / known.max(1) as f64,
        false_accepts as f64 / strangers.max(1) as f64
    );
    assert!(stranger_obs >= 5, "too few observations of strangers");
    assert_eq!(
        stranger_votes, 0,
        "a stranger's face voted for an enrolled person"
    );
    assert!(
        known >= 8,
        "too few decided tracks of enrolled faces:\n{report}"
    );
    assert!(strangers >= 1, "no decided track of a stranger:\n{report}");
    assert_eq!(wrong, 0, "tracks taken for the wrong person:\n{report}");
    assert_eq!(
        false_accepts, 0,
        "strangers taken for enrolled persons:\n{report}"
    );
    assert_eq!(correct, known, "enrolled faces not recognised:\n{report}");
}
