//! `lichtbild`: the command-line host. It reads files and writes files; the engine only ever sees
//! bytes in memory. Outputs are written to a temporary name and renamed, so a failed run never
//! leaves a partial file.

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use lichtbild::{Background, Consent, Engine, EngineConfig, Input, MultiFacePolicy, OutputFormat, OutputImage, Preset, ProcessOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Parser, Debug)]
#[command(name = "lichtbild", version, about = "Turn a photo into an application headshot, entirely on this machine.")]
struct Args {
    /// A photo (JPEG, PNG, WebP, GIF) or a folder of photos.
    input: Option<PathBuf>,
    /// Output file, or output folder when the input is a folder.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Preset name (see --list-presets).
    #[arg(short, long, default_value = "bewerbung-45x60")]
    preset: String,
    /// A custom preset as a JSON file (overrides --preset).
    #[arg(long)]
    preset_file: Option<PathBuf>,
    /// Background: studio-grey, light-grey, white, blue-grey, anthracite, #rrggbb,
    /// gradient:TOP,BOTTOM, studio[:COLOUR], blur, transparent, or image:PATH.
    #[arg(short, long)]
    background: Option<String>,
    /// Consent scopes, comma-separated: face-geometry (required), appearance (for --retouch).
    #[arg(long, required_unless_present_any = ["list_presets", "self_check"])]
    consent: Option<String>,
    /// Retouch strength 0..1 (needs the appearance consent scope).
    #[arg(long)]
    retouch: Option<f32>,
    /// Output format: jpeg, png, webp (default: from the output file's extension, else jpeg).
    #[arg(short, long)]
    format: Option<String>,
    /// JPEG quality 1..100.
    #[arg(short, long, default_value_t = 92)]
    quality: u8,
    /// Largest output size in KiB (JPEG quality is lowered to fit).
    #[arg(long)]
    max_kb: Option<u32>,
    /// With several faces: use the largest (default) or fail.
    #[arg(long, default_value = "largest", value_parser = ["largest", "error"])]
    multi_face: String,
    /// Write the privacy receipt as JSON to this file ("-" for standard output).
    #[arg(long)]
    receipt: Option<PathBuf>,
    /// Path to libonnxruntime (otherwise ORT_DYLIB_PATH, then next to the program, then the system).
    #[arg(long)]
    ort_library: Option<PathBuf>,
    /// Worker threads (0 = one per core for a folder, one for a single photo; the cores are
    /// shared out among the workers).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// List the built-in presets as JSON and exit.
    #[arg(long)]
    list_presets: bool,
    /// Try what the worker sandbox forbids (create a file, open a socket, run a program, ...) on a
    /// worker and on the main thread, print the kernel's answers as JSON; exit 0 only if the
    /// worker was refused every one.
    #[arg(long)]
    self_check: bool,
    /// Seal (age-encrypt) the output to this recipient (age1…); repeat for several.
    #[arg(long, value_name = "AGE1…")]
    seal_to: Vec<String>,
    /// Seal to every recipient in this file (one per line, # comments allowed).
    #[arg(long, value_name = "FILE")]
    seal_to_file: Option<PathBuf>,
    /// Seal with the passphrase held in this environment variable (age scrypt mode).
    #[arg(long, value_name = "VAR")]
    seal_passphrase_env: Option<String>,
    /// Run the workers without their sandbox (for debugging; the receipt says so).
    #[arg(long)]
    no_sandbox: bool,
}

// Every block freed on an engine worker is zeroed, third-party decoders' buffers included.
#[global_allocator]
static ALLOC: lichtbild::WipeOnFree = lichtbild::WipeOnFree::system();

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("lichtbild: {msg}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> Result<ExitCode, String> {
    if args.list_presets {
        println!("{}", serde_json::to_string_pretty(&Preset::builtins()).map_err(|e| e.to_string())?);
        return Ok(ExitCode::SUCCESS);
    }
    let config = EngineConfig { ort_library: args.ort_library.clone(), workers: args.workers, sandbox: !args.no_sandbox, ..Default::default() };
    if args.self_check {
        let engine = Engine::new(EngineConfig { workers: 1, ..config }).map_err(|e| e.to_string())?;
        let report = engine.self_check(&std::env::temp_dir()).map_err(|e| e.to_string())?;
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
        return Ok(if report.passed { ExitCode::SUCCESS } else { ExitCode::from(2) });
    }
    let input = args.input.clone().ok_or("no input given (a photo or a folder)")?;
    let output = args.output.clone().ok_or("no output given: use -o FILE (or -o FOLDER for a folder)")?;
    let options = build_options(&args, &output)?;
    // One photo gets one worker, and with it every core (workers share the cores out).
    let folder = input.is_dir();
    let config = if folder || config.workers != 0 { config } else { EngineConfig { workers: 1, ..config } };
    let engine = Engine::new(config).map_err(|e| e.to_string())?;
    if folder {
        batch(&engine, &input, &output, &options, args.receipt.as_deref())
    } else {
        single(&engine, &input, &output, &options, args.receipt.as_deref())
    }
}

fn build_options(args: &Args, output: &Path) -> Result<ProcessOptions, String> {
    let preset = match &args.preset_file {
        Some(f) => Preset::from_json(&std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?).map_err(|e| e.to_string())?,
        None => Preset::builtin(&args.preset).map_err(|e| e.to_string())?,
    };
    let consent = Consent::parse(args.consent.as_deref().unwrap_or("")).map_err(|e| e.to_string())?;
    let mut o = ProcessOptions::new(preset, consent);
    o.background = match args.background.as_deref() {
        None => None,
        Some(b) if b.starts_with("image:") => {
            let p = &b[6..];
            Some(Background::Image(std::fs::read(p).map_err(|e| format!("background image {p}: {e}"))?))
        }
        Some(b) => Some(Background::parse(b).map_err(|e| e.to_string())?),
    };
    o.retouch = args.retouch;
    o.format = match &args.format {
        Some(f) => OutputFormat::parse(f).map_err(|e| e.to_string())?,
        // `headshot.jpg.age` is a sealed JPEG.
        None => match Path::new(output.to_str().unwrap_or("").trim_end_matches(".age")).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("png") => OutputFormat::Png,
            Some("webp") => OutputFormat::Webp,
            _ => OutputFormat::Jpeg,
        },
    };
    if o.format == OutputFormat::Pixels {
        return Err("the CLI writes files: choose jpeg, png or webp".into());
    }
    o.quality = args.quality;
    o.max_kb = args.max_kb;
    o.multi_face = if args.multi_face == "error" { MultiFacePolicy::Error } else { MultiFacePolicy::Largest };
    let mut recipients = args.seal_to.clone();
    if let Some(f) = &args.seal_to_file {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        recipients.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from));
        if recipients.is_empty() {
            return Err(format!("{}: no recipients in it", f.display()));
        }
    }
    o.seal = match (&args.seal_passphrase_env, recipients.is_empty()) {
        (Some(_), false) => return Err("give --seal-to/--seal-to-file or --seal-passphrase-env, not both".into()),
        (Some(var), true) => {
            let p = std::env::var(var).map_err(|_| format!("--seal-passphrase-env: ${var} is not set"))?;
            Some(lichtbild::Seal::Passphrase(lichtbild::Passphrase::new(p)))
        }
        (None, false) => Some(lichtbild::Seal::Recipients(recipients)),
        (None, true) => None,
    };
    Ok(o)
}

fn ext(f: OutputFormat) -> &'static str {
    match f {
        OutputFormat::Png => "png",
        OutputFormat::Webp => "webp",
        _ => "jpg",
    }
}

/// Writes next to the target and renames: readers never see a partial file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.part", path.file_name().and_then(|n| n.to_str()).unwrap_or("out")));
    std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path)).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{}: {e}", path.display())
    })
}

fn single(engine: &Engine, input: &Path, output: &Path, o: &ProcessOptions, receipt: Option<&Path>) -> Result<ExitCode, String> {
    let bytes = std::fs::read(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let out = engine.process(Input::Encoded(&bytes), o).map_err(|e| format!("{}: {e}", input.display()))?;
    let OutputImage::Encoded { bytes: data, .. } = &out.image else { return Err("unexpected pixel output".into()) };
    write_atomic(output, data)?;
    let r = &out.receipt;
    eprintln!("wrote {} ({}x{} px, {} dpi, {} KB)", output.display(), r.output.width, r.output.height, r.output.dpi, data.len().div_ceil(1024));
    for f in &out.findings {
        eprintln!("  {:?}: {}", f.severity, f.message);
    }
    emit_receipt(receipt, &r.to_json())?;
    Ok(ExitCode::SUCCESS)
}

fn emit_receipt(target: Option<&Path>, json: &str) -> Result<(), String> {
    match target {
        Some(p) if p == Path::new("-") => println!("{json}"),
        Some(p) => write_atomic(p, json.as_bytes())?,
        None => {}
    }
    Ok(())
}

fn batch(engine: &Engine, input: &Path, outdir: &Path, o: &ProcessOptions, receipt: Option<&Path>) -> Result<ExitCode, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(input)
        .map_err(|e| format!("{}: {e}", input.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png" | "webp" | "gif")))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no photos (jpg, png, webp, gif) in {}", input.display()));
    }
    std::fs::create_dir_all(outdir).map_err(|e| format!("{}: {e}", outdir.display()))?;
    let bar = ProgressBar::new(files.len() as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} [{elapsed_precise}, eta {eta}]").expect("template"));
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::<String>::new());
    let receipts = Mutex::new(Vec::<String>::new());
    // As many feeders as workers: the engine's queue does the rest.
    std::thread::scope(|sc| {
        for _ in 0..engine.workers().max(1) {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(f) = files.get(i) else { break };
                let name = f.file_stem().and_then(|s| s.to_str()).unwrap_or("photo");
                let dest = outdir.join(format!("{name}.{}{}", ext(o.format), if o.seal.is_some() { ".age" } else { "" }));
                let r = std::fs::read(f)
                    .map_err(|e| e.to_string())
                    .and_then(|b| engine.process(Input::Encoded(&b), o).map_err(|e| e.to_string()))
                    .and_then(|out| {
                        write_atomic(&dest, out.image.bytes())?;
                        receipts.lock().unwrap().push(out.receipt.to_json());
                        Ok(())
                    });
                if let Err(e) = r {
                    bar.suspend(|| eprintln!("{}: {e}", f.display()));
                    failures.lock().unwrap().push(f.display().to_string());
                }
                bar.set_message(name.to_string());
                bar.inc(1);
            });
        }
    });
    bar.finish_with_message("done");
    let failures = failures.into_inner().unwrap();
    let receipts = receipts.into_inner().unwrap();
    eprintln!("{} of {} photos written to {}", files.len() - failures.len(), files.len(), outdir.display());
    emit_receipt(receipt, &format!("[{}]", receipts.join(",\n")))?;
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
