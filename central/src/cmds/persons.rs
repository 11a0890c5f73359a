//! `central admin person import DIR`: bulk enrolment from a folder per
//! person, for the first day of a deployment (an HR export of badge
//! photos) when uploading one photo at a time is not an option.
//!
//! Each photo goes through exactly the checks of the upload API (one face,
//! quality gate, same model); a refused photo does not stop the import,
//! it is reported with its reason at the end, and the exit status says
//! whether everything was enrolled.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use central::recognize::FacesState;
use central::recognize::enrol::{EnrolError, Enroller};
use central::store::audit::{self, Actor};
use central::store::persons::{self, NewPerson};
use uuid::Uuid;

#[derive(Debug, clap::Subcommand)]
pub enum PersonsCommand {
    /// Enrol every photo (.jpg, .jpeg, .png, .webp) under DIR/<person name>/. Persons
    /// are matched by exact name and created if missing. Exit status 1 if
    /// any photo was refused (each is listed with its reason).
    Import {
        dir: PathBuf,
        /// Category of persons created by the import.
        #[arg(long, value_parser = ["employee", "visitor"], default_value = "employee")]
        category: String,
        /// Models directory (default: the config's faces.models_dir, else
        /// /usr/share/atrium/models).
        #[arg(long)]
        models_dir: Option<PathBuf>,
        /// ONNX Runtime library (default: the config's, else ORT_DYLIB_PATH).
        #[arg(long)]
        onnxruntime: Option<PathBuf>,
        /// Photo key file (default: the config's faces.photo_key_file).
        #[arg(long)]
        photo_key_file: Option<PathBuf>,
        /// Keep templates only, not the photos.
        #[arg(long)]
        no_photos: bool,
    },
}

/// One photo's outcome.
#[derive(Debug)]
struct Outcome {
    file: PathBuf,
    result: Result<f32, String>,
}

pub(crate) fn photos_of(dir: &Path) -> anyhow::Result<Vec<(String, Vec<PathBuf>)>> {
    let mut people = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for e in entries {
        let e = e?;
        if !e.file_type()?.is_dir() {
            continue;
        }
        let name = e.file_name().to_string_lossy().trim().to_owned();
        if name.is_empty() || name.starts_with('.') {
            continue;
        }
        // Photos by extension; other files (notes, .DS_Store) are not
        // photos and are left alone.
        let mut files: Vec<PathBuf> = std::fs::read_dir(e.path())?
            .filter_map(Result::ok)
            .map(|f| f.path())
            .filter(|p| p.is_file() && is_photo_name(p))
            .collect();
        files.sort();
        people.push((name, files));
    }
    people.sort();
    Ok(people)
}

fn is_photo_name(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["jpg", "jpeg", "png", "webp"].contains(&e.to_ascii_lowercase().as_str()))
}

pub async fn run(
    cmd: PersonsCommand,
    client: &mut deadpool_postgres::Client,
    faces: central::config::FacesSection,
) -> anyhow::Result<ExitCode> {
    let PersonsCommand::Import {
        dir,
        category,
        models_dir,
        onnxruntime,
        photo_key_file,
        no_photos,
    } = cmd;
    let faces = central::config::FacesSection {
        models_dir: models_dir.unwrap_or(faces.models_dir),
        onnxruntime: onnxruntime.or(faces.onnxruntime),
        photo_key_file: photo_key_file.or(faces.photo_key_file),
        keep_photos: faces.keep_photos && !no_photos,
        enabled: true,
        ..faces
    };
    let (state, _) = central::recognize::setup(&faces)?;
    let enroller = state.enroller.clone().map_err(anyhow::Error::msg)?;
    let people = photos_of(&dir)?;
    let total: u64 = people.iter().map(|p| p.1.len() as u64).sum();
    if total == 0 {
        anyhow::bail!(
            "no photos under {} (expected one folder per person holding JPEG, PNG or WebP files)",
            dir.display()
        );
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut outcomes: Vec<Outcome> = Vec::new();
    for (name, files) in &people {
        bar.set_message(name.clone());
        let mut person: Option<Uuid> = client
            .query_opt(
                "SELECT id FROM persons WHERE name = $1 ORDER BY created_at LIMIT 1",
                &[name],
            )
            .await?
            .map(|r| r.try_get("id"))
            .transpose()?;
        for file in files {
            let result = enrol_file(
                client,
                &enroller,
                &state,
                name,
                &category,
                &mut person,
                file,
            )
            .await;
            outcomes.push(Outcome {
                file: file.clone(),
                result,
            });
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let enrolled = outcomes.iter().filter(|o| o.result.is_ok()).count();
    let refused: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    for o in &outcomes {
        match &o.result {
            Ok(q) => println!("enrolled  {}  quality {q:.2}", o.file.display()),
            Err(why) => println!("REFUSED   {}  {why}", o.file.display()),
        }
    }
    println!(
        "{enrolled} of {total} photos enrolled for {} persons; {} refused",
        people.len(),
        refused.len()
    );
    // Recognition takes the best of a person's photos: one is fragile.
    let mut enrolled_of: std::collections::BTreeMap<&str, usize> =
        std::collections::BTreeMap::new();
    for (name, files) in &people {
        let n = outcomes
            .iter()
            .filter(|o| o.result.is_ok() && files.contains(&o.file))
            .count();
        enrolled_of.insert(name, n);
    }
    let few: Vec<&str> = enrolled_of
        .iter()
        .filter(|(_, n)| **n < 2)
        .map(|(name, _)| *name)
        .collect();
    if !few.is_empty() {
        println!(
            "fewer than 2 enrolled photos (add more, taken on different days): {}",
            few.join(", ")
        );
    }
    Ok(if refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Enrols one file; creates the person on their first accepted photo.
#[allow(clippy::too_many_arguments)]
async fn enrol_file(
    client: &mut deadpool_postgres::Client,
    enroller: &Enroller,
    faces: &FacesState,
    name: &str,
    category: &str,
    person: &mut Option<Uuid>,
    file: &Path,
) -> Result<f32, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() > faces.photo_max_bytes {
        return Err(format!(
            "too_large: {} bytes (faces.photo_max_bytes is {})",
            bytes.len(),
            faces.photo_max_bytes
        ));
    }
    let enrolled = enroller
        .enrol(bytes.clone())
        .await
        .map_err(|e: EnrolError| format!("{}: {e}", e.reason()))?;
    let (image, sealed) = faces.stored_image(&bytes).map_err(|e| e.to_string())?;
    let db = |e: tokio_postgres::Error| format!("database: {e}");
    let tx = client.transaction().await.map_err(db)?;
    let id = match *person {
        Some(id) => id,
        None => {
            let new = NewPerson {
                name,
                category,
                notes: "",
                consent: false,
                expires_at: None,
            };
            let id = persons::insert(&tx, &new).await.map_err(db)?;
            audit::record(
                &tx,
                Actor::Cli,
                "person.create",
                &id.to_string(),
                serde_json::json!({ "via": "import" }),
            )
            .await
            .map_err(db)?;
            id
        }
    };
    let (photo_id, _) = central::store::faces::insert_enrolment(
        &tx,
        central::recognize::new_enrolment(
            id,
            &enrolled,
            central::recognize::content_type(&bytes),
            image,
            sealed,
        ),
    )
    .await
    .map_err(db)?;
    audit::record(
        &tx,
        Actor::Cli,
        "photo.enrol",
        &id.to_string(),
        serde_json::json!({ "photo_id": photo_id, "file": file.display().to_string() }),
    )
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    *person = Some(id);
    Ok(enrolled.quality.overall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_jpeg_and_png_names_are_photos() {
        for yes in ["a.jpg", "b.JPEG", "c.Png", "dir/d e.jpeg"] {
            assert!(is_photo_name(Path::new(yes)), "{yes}");
        }
        for no in [".DS_Store", "notes.txt", "photo", "x.jpg.bak", "y.gif"] {
            assert!(!is_photo_name(Path::new(no)), "{no}");
        }
    }
}
