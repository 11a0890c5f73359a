//! Persons, enrolment, recognition, "not this person" and erasure against
//! a real TimescaleDB + pgvector and a real Mosquitto, with the real face
//! models. Observations are published the way the edge publishes them,
//! with embeddings the shared vision code computes from the demo photos.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use atrium_vision::{Face, RgbImage};
use support::faces::*;
use support::*;

/// Faces BlazeFace finds on sample1..6 (the models recipe's counts).
const FACES_PER_PHOTO: [usize; 6] = [3, 3, 3, 4, 5, 4];

async fn create_person(api: &Api, token: &str, name: &str) -> String {
    let (s, p) = api
        .send(
            reqwest::Method::POST,
            "/api/v1/persons",
            token,
            serde_json::json!({"name": name, "category": "employee", "consent": true}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    p["id"].as_str().unwrap().to_owned()
}

/// The first face of `photo_no` that enrols from a crop, with its person.
async fn enrol_one(
    api: &Api,
    token: &str,
    name: &str,
    img: &RgbImage,
    faces: &[Face],
) -> (String, Face) {
    let id = create_person(api, token, name).await;
    for face in faces {
        for scale in [2.0, 1.6] {
            let (s, body) = multipart(
                api,
                &format!("/api/v1/persons/{id}/photos"),
                token,
                crop(img, face, scale),
                "crop.png",
            )
            .await;
            if s == 201 {
                return (id, *face);
            }
            assert_eq!(s, 422, "{body}");
        }
    }
    panic!("no face of the photo enrols for {name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_takes_one_good_face_and_refuses_the_rest_with_reasons() {
    let stack = Stack::start().await;
    let central = stack.central("central", "").await;
    let api = Api::new(&central);
    let pw = stack.add_user("admin", "admin").await;
    let token = api.token("admin", &pw).await;
    let id = create_person(&api, &token, "Ada Example").await;
    let path = format!("/api/v1/persons/{id}/photos");

    // Every demo photo shows several people.
    for (i, expected) in FACES_PER_PHOTO.iter().enumerate() {
        let (bytes, _) = photo(i + 1);
        let (s, body) = multipart(&api, &path, &token, bytes, "group.jpg").await;
        assert_error(&body, 422, "PHOTO_REFUSED", &path);
        assert_eq!(s, 422);
        assert_eq!(
            body["error"]["details"]["reason"], "several_faces",
            "{body}"
        );
        assert_eq!(
            body["error"]["details"]["faces"], *expected as u64,
            "{body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("several faces"),
            "{body}"
        );
    }

    // Not an image, and an image with no face in it.
    let (s, body) = multipart(&api, &path, &token, b"hello, not a photo".to_vec(), "x.jpg").await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["error"]["details"]["reason"], "not_an_image", "{body}");
    let one = png(&image::RgbImage::from_pixel(
        1,
        1,
        image::Rgb([200, 150, 120]),
    ));
    let (s, body) = multipart(&api, &path, &token, one, "dot.png").await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["error"]["details"]["reason"], "no_face", "{body}");

    // A face shrunk to a few pixels is found but too small to enrol.
    let models = models();
    let mut detector = models.face_detector().unwrap();
    let (_, img) = photo(1);
    let faces = detector.detect(&img.view(), None).unwrap();
    let c = img.crop(faces[0].bbox.square(2.0)).unwrap();
    let (w, h) = (c.width(), c.height());
    let c = image::RgbImage::from_raw(w, h, c.as_bytes().to_vec()).unwrap();
    let small = image::imageops::resize(&c, w / 5, h / 5, image::imageops::FilterType::Triangle);
    let (s, body) = multipart(&api, &path, &token, png(&small), "small.png").await;
    assert_eq!(s, 422, "{body}");
    let reason = body["error"]["details"]["reason"].as_str().unwrap();
    assert!(
        reason == "too_small" || reason == "no_face",
        "a tiny face: {body}"
    );

    // Over the upload limit (10 MiB): 413 in the error format. Just over
    // it, so the server reads the whole body before answering: with a far
    // larger body the server answers early and closes, and whether the
    // client sees the 413 or a reset while still sending is a race.
    let big = vec![0u8; 10 * 1024 * 1024 + 1024];
    let (s, body) = multipart(&api, &path, &token, big, "big.jpg").await;
    assert_eq!(s, 413, "{body}");
    assert_eq!(body["error"]["status"], 413, "{body}");

    // A crop of one face is enrolled, with its quality.
    let crop_png = crop(&img, &faces[0], 2.0);
    let (s, body) = multipart(&api, &path, &token, crop_png.clone(), "ada.png").await;
    assert_eq!(s, 201, "{body}");
    let q = body["quality"]["overall"].as_f64().unwrap();
    assert!((0.5..=1.0).contains(&q), "{body}");
    assert_eq!(body["model"], "human_faceres");
    let photo_id = body["photo"]["id"].as_str().unwrap().to_owned();
    assert_eq!(body["photo"]["stored"], true);

    let (s, photos) = api.get(&path, &token).await;
    assert_eq!(s, 200);
    assert_eq!(photos.as_array().unwrap().len(), 1);
    let r = api
        .http
        .get(api.url(&format!("{path}/{photo_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().to_vec(), crop_png);
    assert_eq!(
        stack
            .count("SELECT count(*) FROM face_templates WHERE vector_dims(embedding) = 1024")
            .await,
        1
    );

    // Unknown person, and a role without access to personal data.
    let ghost = "/api/v1/persons/01890000-0000-7000-8000-000000000000";
    let (s, body) = api.get(ghost, &token).await;
    assert_eq!(s, 404);
    assert_error(&body, 404, "PERSON_NOT_FOUND", ghost);
    let vpw = stack.add_user("viewer", "viewer").await;
    let vtoken = api.token("viewer", &vpw).await;
    let (s, _) = api.get("/api/v1/persons", &vtoken).await;
    assert_eq!(s, 403);
    let (s, _) = api.get("/api/v1/events/recognition", &vtoken).await;
    assert_eq!(s, 403);

    // Every access so far is on record.
    assert!(
        stack
            .count("SELECT count(*) FROM audit_log WHERE action IN ('person.create', 'photo.enrol', 'photo.read')")
            .await
            >= 3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recognition_votes_rejections_and_erasure() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    let central = stack.central("central", "").await;
    let api = Api::new(&central);
    let pw = stack.add_user("officer", "security_officer").await;
    let token = api.token("officer", &pw).await;
    let mut live = central.state.live.subscribe();

    let models = models();
    let mut detector = models.face_detector().unwrap();
    let (_, img1) = photo(1);
    let faces1 = detector.detect(&img1.view(), None).unwrap();
    let (ada, ada_face) = enrol_one(&api, &token, "Ada", &img1, &faces1).await;
    let (_, img2) = photo(2);
    let faces2 = detector.detect(&img2.view(), None).unwrap();
    let (bob, _) = enrol_one(&api, &token, "Bob", &img2, &faces2).await;

    let mut cam = stack.camera_client("cam-a").await;
    let topic = event_topic("cam-a");
    // Track 1: Ada, seen in five slightly different crops.
    let ada_obs = observations(&models, &img1, &ada_face, 5);
    let payloads: Vec<Vec<u8>> = ada_obs
        .iter()
        .map(|v| face_observed("cam-a", 1, v))
        .collect();
    publish_all(&mut cam, &topic, &payloads).await;
    // Track 2: someone never enrolled (a face of photo 6).
    let (_, img6) = photo(6);
    let faces6 = detector.detect(&img6.view(), None).unwrap();
    let stranger = observations(&models, &img6, &faces6[0], 5);
    let payloads: Vec<Vec<u8>> = stranger
        .iter()
        .map(|v| face_observed("cam-a", 2, v))
        .collect();
    publish_all(&mut cam, &topic, &payloads).await;

    wait_until(Duration::from_secs(30), "two tracks decided", || async {
        stack.count("SELECT count(*) FROM face_recognitions").await >= 2
    })
    .await;
    let (s, page) = api
        .get("/api/v1/events/recognition?camera_id=cam-a", &token)
        .await;
    assert_eq!(s, 200, "{page}");
    let recs = page["data"].as_array().unwrap();
    assert_eq!(recs.len(), 2, "{page}");
    let by_track = |t: i64| recs.iter().find(|r| r["track"] == t).unwrap().clone();
    let r1 = by_track(1);
    assert_eq!(r1["status"], "recognized", "{r1}");
    assert_eq!(r1["person_id"], ada.as_str(), "{r1}");
    assert_eq!(r1["person_name"], "Ada");
    assert!(r1["confidence"].as_f64().unwrap() > 0.72, "{r1}");
    assert!(r1["observations"].as_i64().unwrap() >= 2, "{r1}");
    let r2 = by_track(2);
    assert_eq!(r2["status"], "unknown", "{r2}");
    assert!(r2["person_id"].is_null());
    assert_eq!(r2["observations"], 5, "{r2}");
    // Decided once: the later observations of track 1 added no decision.
    assert_eq!(
        stack
            .count("SELECT count(*) FROM face_recognitions WHERE track = 1")
            .await,
        1
    );
    // Filters.
    let (_, only_ada) = api
        .get(
            &format!("/api/v1/events/recognition?person_id={ada}"),
            &token,
        )
        .await;
    assert_eq!(only_ada["meta"]["total"], 1, "{only_ada}");
    let (_, confident) = api
        .get("/api/v1/events/recognition?min_confidence=0.99", &token)
        .await;
    assert_eq!(confident["meta"]["total"], 0, "{confident}");
    let (s, bad) = api
        .get("/api/v1/events/recognition?min_confidence=2", &token)
        .await;
    assert_eq!(s, 400, "{bad}");
    // The person's last sighting.
    let (_, person) = api.get(&format!("/api/v1/persons/{ada}"), &token).await;
    assert_eq!(person["last_seen"]["camera_id"], "cam-a", "{person}");
    // Both decisions went out live.
    let mut announced = Vec::new();
    while announced.len() < 2 {
        let ev = tokio::time::timeout(Duration::from_secs(10), live.recv())
            .await
            .expect("live face_recognized")
            .unwrap();
        if ev.kind == "face_recognized" {
            announced.push(ev.data["status"].as_str().unwrap().to_owned());
        }
    }
    announced.sort();
    assert_eq!(announced, ["recognized", "unknown"]);

    // "Not this person": Ada's track becomes a negative example for her,
    // and the same face on a new track is no longer taken for Ada.
    let rid = r1["id"].as_str().unwrap();
    let (s, rej) = api
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/events/recognition/{rid}/reject"),
            &token,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(s, 200, "{rej}");
    assert!(rej["negatives"].as_u64().unwrap() >= 2, "{rej}");
    let payloads: Vec<Vec<u8>> = ada_obs
        .iter()
        .map(|v| face_observed("cam-a", 3, v))
        .collect();
    publish_all(&mut cam, &topic, &payloads).await;
    wait_until(Duration::from_secs(30), "track 3 decided", || async {
        stack
            .count("SELECT count(*) FROM face_recognitions WHERE track = 3")
            .await
            == 1
    })
    .await;
    assert_eq!(
        stack
            .count("SELECT count(*) FROM face_recognitions WHERE track = 3 AND status = 'unknown'")
            .await,
        1,
        "the rejected face must not be recognised as Ada again"
    );
    let (_, r1_after) = api
        .get("/api/v1/events/recognition?status=rejected", &token)
        .await;
    assert_eq!(r1_after["meta"]["total"], 1);

    // Erasure: nothing left that names or links to Ada.
    let (s, er) = api
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/persons/{ada}"),
            &token,
            serde_json::json!(null),
        )
        .await;
    assert_eq!(s, 200, "{er}");
    assert_eq!(er["templates"], 1, "{er}");
    assert_eq!(er["photos"], 1, "{er}");
    assert!(er["negatives"].as_u64().unwrap() >= 2, "{er}");
    for (table, column) in [
        ("persons", "id"),
        ("face_templates", "person_id"),
        ("face_photos", "person_id"),
        ("face_negatives", "person_id"),
        ("face_votes", "person_id"),
        ("face_recognitions", "person_id"),
        ("face_recognitions", "rejected_person_id"),
    ] {
        assert_eq!(
            stack
                .count(&format!(
                    "SELECT count(*) FROM {table} WHERE {column} = '{ada}'"
                ))
                .await,
            0,
            "{table}.{column} still links to the erased person"
        );
    }
    assert_eq!(
        stack
            .count("SELECT count(*) FROM face_recognitions WHERE status = 'erased'")
            .await,
        1
    );
    assert_eq!(
        stack
            .count(&format!(
                "SELECT count(*) FROM audit_log WHERE action = 'person.erase' AND subject = '{ada}'"
            ))
            .await,
        1
    );
    let (s, _) = api.get(&format!("/api/v1/persons/{ada}"), &token).await;
    assert_eq!(s, 404);
    // Bob is untouched.
    let (s, _) = api.get(&format!("/api/v1/persons/{bob}"), &token).await;
    assert_eq!(s, 200);
}

/// `central admin …` against the stack's database, with the workspace's
/// models: (exit code, stdout).
fn admin(stack: &Stack, args: &[&str]) -> (Option<i32>, String) {
    let models = atrium_testkit::workspace_root().join("models");
    let ort = atrium_testkit::onnxruntime_library();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_central"))
        .args(["admin", "--database-url", &stack.pg.url()])
        .args(args)
        .arg("--models-dir")
        .arg(&models)
        .arg("--onnxruntime")
        .arg(&ort)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    (out.status.code(), stdout)
}

/// A change of embedder: `faces reembed` makes templates of the new model
/// from the kept photos and names the person whose photo was not kept;
/// while edges switch over, observations of either model are recognised
/// against that model's templates with that model's threshold; an
/// observation whose dimension is not its model's is dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_of_embedder_reembeds_kept_photos_and_both_models_recognise() {
    const NEW: &str = "human_mobileface";
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    let central = stack.central("central", "").await;
    assert_ne!(
        central.state.recognize.embedder, NEW,
        "the default is another model"
    );
    let api = Api::new(&central);
    let pw = stack.add_user("officer", "security_officer").await;
    let token = api.token("officer", &pw).await;
    let models = models();
    let mut detector = models.face_detector().unwrap();
    let (_, img1) = photo(1);
    let faces1 = detector.detect(&img1.view(), None).unwrap();
    let (ada, ada_face) = enrol_one(&api, &token, "Ada", &img1, &faces1).await;
    // Cy: enrolled from the CLI keeping templates only.
    let (_, img3) = photo(3);
    let faces3 = detector.detect(&img3.view(), None).unwrap();
    let people = stack.dir.path().join("people");
    std::fs::create_dir_all(people.join("Cy")).unwrap();
    std::fs::write(people.join("Cy/face.png"), crop(&img3, &faces3[0], 2.0)).unwrap();
    let (code, out) = admin(
        &stack,
        &["person", "import", people.to_str().unwrap(), "--no-photos"],
    );
    assert_eq!(code, Some(0), "{out}");

    let (code, out) = admin(&stack, &["faces", "reembed", "--model", NEW]);
    assert_eq!(code, Some(1), "a person is left without a template:\n{out}");
    assert!(
        out.contains(&format!("1 template(s) of {NEW} made")),
        "{out}"
    );
    assert!(
        out.contains("1 person(s) have no template") && out.contains("  Cy  ("),
        "{out}"
    );
    let dims = |sql: &'static str| {
        let stack = &stack;
        async move {
            let db = stack.pg.connect().await.unwrap();
            db.query(sql, &[])
                .await
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r.get::<_, String>(0),
                        r.get::<_, String>(1),
                        r.get::<_, i32>(2),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let templates = dims(
        "SELECT p.name, t.model, vector_dims(t.embedding) FROM face_templates t
         JOIN persons p ON p.id = t.person_id ORDER BY p.name, t.model",
    )
    .await;
    assert_eq!(
        templates,
        [
            ("Ada".into(), "human_faceres".into(), 1024),
            ("Ada".into(), NEW.into(), 256),
            ("Cy".into(), "human_faceres".into(), 1024),
        ]
    );

    // Ada seen by an edge still on the old model (track 1) and by one
    // already on the new model (track 2): both recognised.
    let mut cam = stack.camera_client("cam-a").await;
    let topic = event_topic("cam-a");
    for (track, model) in [(1, "human_faceres"), (2, NEW)] {
        let obs = observations_of(&models, Some(model), &img1, &ada_face, 3);
        let payloads: Vec<Vec<u8>> = obs
            .iter()
            .map(|v| face_observed_as("cam-a", track, model, v))
            .collect();
        publish_all(&mut cam, &topic, &payloads).await;
    }
    // A 1024-D embedding claiming the 256-D model: refused.
    let wrong = observations_of(&models, None, &img1, &ada_face, 1);
    publish_all(
        &mut cam,
        &topic,
        &[face_observed_as("cam-a", 3, NEW, &wrong[0])],
    )
    .await;
    wait_until(Duration::from_secs(30), "both tracks decided", || async {
        stack
            .count("SELECT count(*) FROM face_recognitions WHERE status = 'recognized'")
            .await
            >= 2
    })
    .await;
    let (s, page) = api
        .get("/api/v1/events/recognition?camera_id=cam-a", &token)
        .await;
    assert_eq!(s, 200, "{page}");
    for track in [1, 2] {
        let r = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["track"] == track)
            .unwrap_or_else(|| panic!("track {track}: {page}"));
        assert_eq!(r["status"], "recognized", "{r}");
        assert_eq!(r["person_id"], ada.as_str(), "{r}");
    }
    wait_until(Duration::from_secs(30), "the mismatched embedding is dead-lettered", || async {
        stack
            .count("SELECT count(*) FROM dead_letters WHERE reason LIKE '%has 1024 dimensions, the model has 256%'")
            .await
            == 1
    })
    .await;
    assert_eq!(
        stack
            .count("SELECT count(*) FROM face_observations WHERE track = 3")
            .await,
        0
    );

    // Once every edge has switched: drop the old templates the new ones
    // replace. Cy keeps hers (nothing replaces it) and still needs photos.
    let (code, out) = admin(
        &stack,
        &["faces", "reembed", "--model", NEW, "--drop-others"],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("0 template(s) of {NEW} made")),
        "{out}"
    );
    assert!(
        out.contains("1 template(s) of other models deleted"),
        "{out}"
    );
    let templates = dims(
        "SELECT p.name, t.model, vector_dims(t.embedding) FROM face_templates t
         JOIN persons p ON p.id = t.person_id ORDER BY p.name, t.model",
    )
    .await;
    assert_eq!(
        templates,
        [
            ("Ada".into(), NEW.into(), 256),
            ("Cy".into(), "human_faceres".into(), 1024),
        ]
    );
}
