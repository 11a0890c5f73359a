//! `edge-agent snapshot --config FILE --output FILE.jpg`: one frame from
//! the camera as a JPEG, with the configured lines (IN side marked) and
//! zones drawn, so an installer can place lines on the real view.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use atrium_proto::Side;
use atrium_vision::RgbImage;
use edge_agent::analytics::{Analytics, Anchor};
use edge_agent::config::{Config, SourceUrl};
use edge_agent::decode::{Decoder, RgbConverter};
use edge_agent::source::file::{FileOptions, play};
use edge_agent::source::rtsp::{self, RtspOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent's TOML configuration.
    #[arg(long, short)]
    config: PathBuf,
    /// Where to write the JPEG.
    #[arg(long, short, default_value = "snapshot.jpg")]
    output: PathBuf,
    /// Do not draw lines and zones.
    #[arg(long)]
    plain: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let mut img = rt.block_on(grab(&config))?;
    if !args.plain {
        let mut a = Analytics::new(Anchor::BottomCentre, 0.0, Default::default());
        a.set_frame_size(img.width(), img.height());
        a.configure(&config.lines, &config.zones);
        let mut pixels = img.as_bytes().to_vec();
        let (w, h) = (img.width(), img.height());
        for z in a.zones() {
            for i in 0..z.polygon.len() {
                draw_line(
                    &mut pixels,
                    w,
                    h,
                    z.polygon[i],
                    z.polygon[(i + 1) % z.polygon.len()],
                    [255, 200, 0],
                );
            }
        }
        for l in a.lines() {
            draw_line(&mut pixels, w, h, l.a, l.b, [255, 0, 0]);
            // A short tick on the IN side, from the middle of the line.
            let mid = [(l.a[0] + l.b[0]) / 2.0, (l.a[1] + l.b[1]) / 2.0];
            let (dx, dy) = (l.b[0] - l.a[0], l.b[1] - l.a[1]);
            let len = (dx * dx + dy * dy).sqrt().max(1.0);
            let (nx, ny) = (-dy / len, dx / len); // screen-right of a→b
            let s = if l.in_side == Side::Right {
                25.0
            } else {
                -25.0
            };
            draw_line(
                &mut pixels,
                w,
                h,
                mid,
                [mid[0] + nx * s, mid[1] + ny * s],
                [0, 255, 0],
            );
        }
        img = RgbImage::from_raw(w, h, pixels)?;
    }
    image::RgbImage::from_raw(img.width(), img.height(), img.as_bytes().to_vec())
        .context("building the image")?
        .save_with_format(&args.output, image::ImageFormat::Jpeg)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "wrote {} ({}x{})",
        args.output.display(),
        img.width(),
        img.height()
    );
    Ok(ExitCode::SUCCESS)
}

async fn grab(config: &Config) -> anyhow::Result<RgbImage> {
    match config.source()? {
        SourceUrl::Rtsp(url) => {
            let mut opts = RtspOptions::new(url);
            opts.credentials = config.credentials()?;
            let mut stream = rtsp::connect(&opts).await?;
            let mut decoder = Decoder::new(stream.info().codec, 1)?;
            let mut rgb = RgbConverter::new(None);
            for _ in 0..300 {
                let frame = stream.next_frame().await?;
                let mut got = None;
                decoder.decode(&frame, |p| got = Some(rgb.convert(p)))?;
                if let Some(img) = got {
                    return Ok(img?);
                }
            }
            bail!("no picture decoded from the first 300 packets")
        }
        SourceUrl::File(path) => {
            let stop = AtomicBool::new(false);
            let mut rgb = RgbConverter::new(None);
            let mut got = None;
            play(
                &FileOptions {
                    path,
                    realtime: false,
                    loop_file: false,
                    threads: 1,
                },
                &stop,
                |_| {},
                |p, _| {
                    if got.is_none() {
                        got = Some(rgb.convert(p));
                        stop.store(true, Ordering::Relaxed);
                    }
                },
            )?;
            got.context("the file has no picture")?.map_err(Into::into)
        }
    }
}

/// A 3-pixel-wide line, clipped to the image.
fn draw_line(px: &mut [u8], w: u32, h: u32, a: [f32; 2], b: [f32; 2], colour: [u8; 3]) {
    let steps = ((b[0] - a[0]).abs().max((b[1] - a[1]).abs()).ceil() as usize).max(1);
    for i in 0..=steps {
        let t = i as f32 / steps as f32;
        let (x, y) = (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t);
        for dy in -1..=1 {
            for dx in -1..=1 {
                let (xi, yi) = (x.round() as i64 + dx, y.round() as i64 + dy);
                if xi >= 0 && yi >= 0 && (xi as u32) < w && (yi as u32) < h {
                    let o = (yi as usize * w as usize + xi as usize) * 3;
                    px[o..o + 3].copy_from_slice(&colour);
                }
            }
        }
    }
}
