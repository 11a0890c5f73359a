//! `central admin faces …`: measuring and maintaining face recognition.
//!
//! `calibrate DIR`: a site measures recognition on its own staff photos
//! (one folder per person, several photos each) and gets the same-person
//! threshold that keeps false accepts rare there, instead of trusting a
//! number calibrated on somebody else's faces. Every photo goes through
//! the enrolment code the API uses (decode, one face, quality gate,
//! alignment, the model), so the numbers are those recognition will see;
//! refused photos are listed and left out. `--compare` runs every embedder
//! of the manifest on the same photos, so choosing a model is a
//! measurement too.
//!
//! `reembed`: after a change of embedder, makes templates of the new model
//! from the kept photos (templates of different models are never compared)
//! and names the persons whose photos were not kept, who need new ones.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use atrium_vision::face::Embedding;
use central::recognize::calibrate::{self, Operating, Report, Summary};
use central::recognize::enrol::EnrolError;

#[derive(Debug, clap::Subcommand)]
pub enum FacesCommand {
    /// Measure recognition on DIR/<person>/<photos> (JPEG, PNG or WebP; at
    /// least 2 persons with 2 or more photos): genuine and impostor
    /// similarity distributions, ROC AUC, TAR at FAR 1 % and 0.1 %, and a
    /// suggested threshold (FAR at most 0.1 % on these photos).
    Calibrate {
        dir: PathBuf,
        /// Write the suggested threshold to `[faces] threshold` of the file
        /// given with `--config` (its other settings and comments stay);
        /// with `--model`, `[faces] embedder` too.
        #[arg(long)]
        apply: bool,
        /// Embedder to calibrate (a manifest id; default: the config's
        /// faces.embedder, else the manifest's default).
        #[arg(long)]
        model: Option<String>,
        /// Also measure every other embedder of the manifest on the same
        /// photos and print them side by side (AUC, TAR at FAR 1 % and
        /// 0.1 %, suggested threshold, milliseconds per face).
        #[arg(long)]
        compare: bool,
        /// Models directory (default: the config's faces.models_dir).
        #[arg(long)]
        models_dir: Option<PathBuf>,
        /// ONNX Runtime library (default: the config's, else ORT_DYLIB_PATH).
        #[arg(long)]
        onnxruntime: Option<PathBuf>,
    },
    /// Make templates of the configured embedder (or --model) from every
    /// kept enrolment photo that has none, and list the persons who still
    /// have no template of it (their photos were not kept: enrol new
    /// ones). Exit status 1 if any person is left without one.
    Reembed {
        /// Embedder to make templates for (default: the config's
        /// faces.embedder, else the manifest's default).
        #[arg(long)]
        model: Option<String>,
        /// Then delete the other models' templates of every photo that
        /// now has one of this model.
        #[arg(long)]
        drop_others: bool,
        /// Models directory (default: the config's faces.models_dir).
        #[arg(long)]
        models_dir: Option<PathBuf>,
        /// ONNX Runtime library (default: the config's, else ORT_DYLIB_PATH).
        #[arg(long)]
        onnxruntime: Option<PathBuf>,
        /// Photo key file (default: the config's faces.photo_key_file).
        #[arg(long)]
        photo_key_file: Option<PathBuf>,
    },
}

impl FacesCommand {
    /// Whether the command works on the database (else photos in,
    /// numbers out).
    pub fn needs_database(&self) -> bool {
        matches!(self, Self::Reembed { .. })
    }
}

fn summary(s: &Summary) -> String {
    format!(
        "n={:<6} min {:.3}  p5 {:.3}  median {:.3}  p95 {:.3}  max {:.3}",
        s.n, s.min, s.p5, s.median, s.p95, s.max
    )
}

fn operating(o: &Operating) -> String {
    format!(
        "threshold {:.3}: TAR {:.1} %, FAR {:.2} %",
        o.threshold,
        o.tar * 100.0,
        o.far * 100.0
    )
}

fn print_report(r: &Report, model: &str, current: f32, at_current: &Operating) {
    println!(
        "calibrated on {} photos of {} persons with model {model}",
        r.photos, r.persons
    );
    println!("genuine pairs  (same person)  {}", summary(&r.genuine));
    println!("impostor pairs (two persons)  {}", summary(&r.impostor));
    println!("ROC AUC {:.4}", r.auc);
    println!("at FAR <= 1 %    {}", operating(&r.at_far_1));
    println!("at FAR <= 0.1 %  {}", operating(&r.at_far_01));
    println!("current          {}", operating(at_current));
    println!(
        "suggested threshold {:.2} (was {current:.2}): {}",
        r.suggested.threshold,
        operating(&r.suggested)
    );
    if r.suggested.tar < 0.5 {
        println!(
            "warning: at the suggested threshold only {:.0} % of genuine pairs match: the closest pairs of two persons (below) may be look-alikes or mislabelled photos; with several photos per person, recognition takes the best of them",
            r.suggested.tar * 100.0
        );
    }
    if r.few_impostors {
        println!(
            "note: {} impostor pairs; a FAR of 0.1 % needs 1000 or more to be measured, so the suggestion is just above the closest impostor pair: add photos of more persons for a firmer number",
            r.impostor.n
        );
    }
}

/// The pairs that decide the threshold: the least alike photos of one
/// person and the most alike of two (a mislabelled or poor photo shows
/// here first).
fn print_extremes(samples: &[(String, Embedding)], files: &[PathBuf]) {
    let mut genuine = Vec::new();
    let mut impostor = Vec::new();
    for i in 0..samples.len() {
        for j in i + 1..samples.len() {
            let Some(s) = samples[i].1.cosine(&samples[j].1) else {
                continue;
            };
            let pair = (s, i, j);
            if samples[i].0 == samples[j].0 {
                genuine.push(pair);
            } else {
                impostor.push(pair);
            }
        }
    }
    genuine.sort_by(|a, b| a.0.total_cmp(&b.0));
    impostor.sort_by(|a, b| b.0.total_cmp(&a.0));
    let show = |(s, i, j): &(f32, usize, usize)| {
        format!("  {s:.3}  {}  {}", files[*i].display(), files[*j].display())
    };
    println!("least alike photos of one person:");
    genuine.iter().take(3).for_each(|p| println!("{}", show(p)));
    println!("most alike photos of two persons:");
    impostor
        .iter()
        .take(3)
        .for_each(|p| println!("{}", show(p)));
}

/// Rewrites `[faces] threshold` (and `embedder`, when given) in the TOML
/// file at `path`, keeping the rest.
fn apply_threshold(path: &Path, threshold: f32, embedder: Option<&str>) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    let faces = doc
        .entry("faces")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    let Some(table) = faces.as_table_like_mut() else {
        anyhow::bail!("{}: `faces` is not a table", path.display());
    };
    // Two decimals, as suggested (an f32 printed as f64 would show noise).
    let value: f64 = format!("{threshold:.2}").parse()?;
    table.insert("threshold", toml_edit::value(value));
    if let Some(model) = embedder {
        table.insert("embedder", toml_edit::value(model));
    }
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, doc.to_string()).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// One embedder measured on the calibration photos.
#[derive(Clone)]
struct Measured {
    model: String,
    dim: usize,
    samples: Vec<(String, Embedding)>,
    files: Vec<PathBuf>,
    refused: usize,
    /// Median embedding time per face, milliseconds.
    ms_per_face: f64,
    /// The threshold recognition uses now with this model.
    current: f32,
}

/// Enrols every photo of `people` with `faces`' embedder.
async fn measure(
    faces: &central::config::FacesSection,
    people: &[(String, Vec<PathBuf>)],
    print_refusals: bool,
) -> anyhow::Result<Measured> {
    let (state, recognize) = central::recognize::setup(faces)?;
    let enroller = state.enroller.clone().map_err(anyhow::Error::msg)?;
    let mut m = Measured {
        model: enroller.embedder().to_owned(),
        dim: 0,
        samples: Vec::new(),
        files: Vec::new(),
        refused: 0,
        ms_per_face: 0.0,
        current: recognize.vote.threshold,
    };
    let mut times = Vec::new();
    for (name, files) in people {
        for file in files {
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            match enroller.enrol(bytes).await {
                Ok(e) => {
                    times.push(e.embed_seconds * 1000.0);
                    m.dim = e.embedding.dim();
                    m.samples.push((name.clone(), e.embedding));
                    m.files.push(file.clone());
                }
                Err(e) => {
                    m.refused += 1;
                    let e: EnrolError = e;
                    if print_refusals {
                        println!("REFUSED  {}  {}: {e}", file.display(), e.reason());
                    }
                }
            }
        }
    }
    times.sort_by(f64::total_cmp);
    m.ms_per_face = times.get(times.len() / 2).copied().unwrap_or(0.0);
    Ok(m)
}

fn print_comparison(rows: &[(Measured, Report)]) {
    println!(
        "{:<22} {:>5} {:>7} {:>7} {:>11} {:>13} {:>10} {:>8}",
        "model", "dim", "photos", "AUC", "TAR@FAR1%", "TAR@FAR0.1%", "suggested", "ms/face"
    );
    for (m, r) in rows {
        println!(
            "{:<22} {:>5} {:>7} {:>7.4} {:>10.1}% {:>12.1}% {:>10.2} {:>8.2}",
            m.model,
            m.dim,
            r.photos,
            r.auc,
            r.at_far_1.tar * 100.0,
            r.at_far_01.tar * 100.0,
            r.suggested.threshold,
            m.ms_per_face
        );
    }
}

async fn calibrate_cmd(
    cmd: FacesCommand,
    faces: central::config::FacesSection,
    config: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let FacesCommand::Calibrate {
        dir,
        apply,
        model,
        compare,
        models_dir,
        onnxruntime,
    } = cmd
    else {
        anyhow::bail!("not a calibration");
    };
    if apply && config.is_none() {
        anyhow::bail!("--apply writes the threshold into the configuration: give --config FILE");
    }
    let faces = central::config::FacesSection {
        models_dir: models_dir.unwrap_or(faces.models_dir),
        onnxruntime: onnxruntime.or(faces.onnxruntime),
        enabled: true,
        embedder: model.clone().or(faces.embedder),
        // Another model's threshold is the manifest's, not the configured one.
        threshold: if model.is_some() {
            None
        } else {
            faces.threshold
        },
        ..faces
    };
    let people = super::persons::photos_of(&dir)?;
    let chosen = measure(&faces, &people, true).await?;
    let report = calibrate::calibrate(&chosen.samples)?;
    if compare {
        let models = atrium_vision::Models::open(&faces.models_dir, Default::default())?;
        let mut rows = Vec::new();
        for id in models.face_embedder_ids() {
            if id == chosen.model {
                continue;
            }
            let other = central::config::FacesSection {
                embedder: Some(id.to_owned()),
                threshold: None,
                ..faces.clone()
            };
            let m = measure(&other, &people, false).await?;
            let r = calibrate::calibrate(&m.samples)?;
            rows.push((m, r));
        }
        rows.push((chosen.clone(), report.clone()));
        rows.sort_by(|a, b| b.1.auc.total_cmp(&a.1.auc));
        println!("every embedder of the manifest on the same photos (best AUC first):");
        print_comparison(&rows);
        println!();
    }
    finish(&report, &chosen, apply, model.is_some(), config)
}

/// Prints the chosen model's report and applies it if asked.
fn finish(
    report: &Report,
    m: &Measured,
    apply: bool,
    model_given: bool,
    config: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let (genuine, impostor) = calibrate::pairs(&m.samples)?;
    let at_current = calibrate::operating(&genuine, &impostor, m.current);
    if m.refused > 0 {
        println!("{} photo(s) refused by enrolment and left out", m.refused);
    }
    print_report(report, &m.model, m.current, &at_current);
    print_extremes(&m.samples, &m.files);
    if let (true, Some(path)) = (apply, config) {
        let embedder = model_given.then_some(m.model.as_str());
        apply_threshold(path, report.suggested.threshold, embedder)?;
        match embedder {
            Some(e) => println!(
                "wrote [faces] embedder = {e:?} and threshold = {:.2} to {}; restart central to use them, set the edges' faces.embedder to {e:?} and run `central admin faces reembed`",
                report.suggested.threshold,
                path.display()
            ),
            None => println!(
                "wrote [faces] threshold = {:.2} to {}; restart central to use it",
                report.suggested.threshold,
                path.display()
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `calibrate` (no database).
pub async fn run(
    cmd: FacesCommand,
    faces: central::config::FacesSection,
    config: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    calibrate_cmd(cmd, faces, config).await
}

/// `reembed` (on the database).
pub async fn run_db(
    cmd: FacesCommand,
    client: &deadpool_postgres::Client,
    faces: central::config::FacesSection,
) -> anyhow::Result<ExitCode> {
    let FacesCommand::Reembed {
        model,
        drop_others,
        models_dir,
        onnxruntime,
        photo_key_file,
    } = cmd
    else {
        anyhow::bail!("not a database command");
    };
    let faces = central::config::FacesSection {
        models_dir: models_dir.unwrap_or(faces.models_dir),
        onnxruntime: onnxruntime.or(faces.onnxruntime),
        photo_key_file: photo_key_file.or(faces.photo_key_file),
        enabled: true,
        embedder: model.or(faces.embedder),
        ..faces
    };
    let (state, _) = central::recognize::setup(&faces)?;
    let enroller = state.enroller.clone().map_err(anyhow::Error::msg)?;
    let model = enroller.embedder().to_owned();
    let todo = central::store::faces::photos_without_template(client, &model).await?;
    let (mut made, mut refused) = (0usize, 0usize);
    for photo in todo {
        let Some(image) = photo.image else { continue };
        let bytes = if photo.encrypted {
            let key = state.photo_key.as_ref().with_context(|| {
                format!(
                    "photo {} of {} is encrypted: give --photo-key-file or faces.photo_key_file",
                    photo.id, photo.person_name
                )
            })?;
            key.open(&image)
                .with_context(|| format!("decrypting photo {}", photo.id))?
        } else {
            image
        };
        match enroller.enrol(bytes).await {
            Ok(e) => {
                central::store::faces::insert_template(
                    client,
                    central::store::faces::NewTemplate {
                        person: photo.person,
                        photo: photo.id,
                        model: &model,
                        quality: e.quality.overall,
                        embedding: e.embedding.values,
                    },
                )
                .await?;
                made += 1;
            }
            Err(e) => {
                refused += 1;
                println!(
                    "REFUSED  photo {} of {}  {}: {e}",
                    photo.id,
                    photo.person_name,
                    e.reason()
                );
            }
        }
    }
    let dropped = if drop_others {
        central::store::faces::drop_replaced_templates(client, &model).await?
    } else {
        0
    };
    let missing = central::store::faces::persons_without_template(client, &model).await?;
    println!("{made} template(s) of {model} made from kept photos, {refused} photo(s) refused");
    if drop_others {
        println!(
            "{dropped} template(s) of other models deleted (their photos have one of {model})"
        );
    }
    if missing.is_empty() {
        println!("every person has a template of {model}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} person(s) have no template of {model}: their photos were not kept (or were refused); enrol new photos of them:",
        missing.len()
    );
    for (id, name) in &missing {
        println!("  {name}  ({id})");
    }
    Ok(ExitCode::from(1))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn apply_keeps_the_rest_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("central.toml");
        std::fs::write(
            &path,
            "# site settings\n[database]\nurl = \"postgres://x\"\n\n[faces]\n# tuned\nmargin = 0.04\n",
        )
        .unwrap();
        apply_threshold(&path, 0.6312, None).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("# site settings") && text.contains("# tuned"),
            "{text}"
        );
        let v: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(v["faces"]["threshold"].as_float(), Some(0.63));
        assert_eq!(v["faces"]["margin"].as_float(), Some(0.04));
        assert_eq!(v["database"]["url"].as_str(), Some("postgres://x"));
    }
}
