//! `central admin faces calibrate DIR`: a site measures recognition on its
//! own staff photos (one folder per person, several photos each) and gets
//! the same-person threshold that keeps false accepts rare there, instead
//! of trusting a number calibrated on somebody else's faces.
//!
//! Every photo goes through the enrolment code the API uses (decode, one
//! face, quality gate, alignment, the configured model), so the numbers
//! are those recognition will see; refused photos are listed and left out.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
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
        /// given with `--config` (its other settings and comments stay).
        #[arg(long)]
        apply: bool,
        /// Models directory (default: the config's faces.models_dir).
        #[arg(long)]
        models_dir: Option<PathBuf>,
        /// ONNX Runtime library (default: the config's, else ORT_DYLIB_PATH).
        #[arg(long)]
        onnxruntime: Option<PathBuf>,
    },
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
fn print_extremes(samples: &[(String, atrium_vision::face::Embedding)], files: &[PathBuf]) {
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

/// Rewrites `[faces] threshold` in the TOML file at `path`, keeping the rest.
fn apply_threshold(path: &Path, threshold: f32) -> anyhow::Result<()> {
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
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, doc.to_string()).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

pub async fn run(
    cmd: FacesCommand,
    faces: central::config::FacesSection,
    config: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let FacesCommand::Calibrate {
        dir,
        apply,
        models_dir,
        onnxruntime,
    } = cmd;
    if apply && config.is_none() {
        anyhow::bail!("--apply writes the threshold into the configuration: give --config FILE");
    }
    let faces = central::config::FacesSection {
        models_dir: models_dir.unwrap_or(faces.models_dir),
        onnxruntime: onnxruntime.or(faces.onnxruntime),
        enabled: true,
        ..faces
    };
    let (state, recognize) = central::recognize::setup(&faces)?;
    let enroller = state.enroller.clone().map_err(anyhow::Error::msg)?;
    let people = super::persons::photos_of(&dir)?;
    let mut samples = Vec::new();
    let mut files_of = Vec::new();
    let mut refused = 0usize;
    for (name, files) in &people {
        for file in files {
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            match enroller.enrol(bytes).await {
                Ok(e) => {
                    samples.push((name.clone(), e.embedding));
                    files_of.push(file.clone());
                }
                Err(e) => {
                    refused += 1;
                    let e: EnrolError = e;
                    println!("REFUSED  {}  {}: {e}", file.display(), e.reason());
                }
            }
        }
    }
    let report = calibrate::calibrate(&samples)?;
    let model = samples
        .first()
        .map_or_else(String::new, |(_, e)| e.model.clone());
    let current = recognize.vote.threshold;
    let (genuine, impostor) = calibrate::pairs(&samples)?;
    let at_current = calibrate::operating(&genuine, &impostor, current);
    if refused > 0 {
        println!("{refused} photo(s) refused by enrolment and left out");
    }
    print_report(&report, &model, current, &at_current);
    print_extremes(&samples, &files_of);
    if let (true, Some(path)) = (apply, config) {
        apply_threshold(path, report.suggested.threshold)?;
        println!(
            "wrote [faces] threshold = {:.2} to {}; restart central to use it",
            report.suggested.threshold,
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
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
        apply_threshold(&path, 0.6312).unwrap();
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
