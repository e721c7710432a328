//! The job, stage by stage, on a worker thread. Each stage lives in its own module; this file only
//! orders them, picks resolutions and times them.

use crate::background;
use crate::compose::{self, Composition};
use crate::decode::{self, Decoded, Limits};
use crate::detect::{self, Face};
use crate::encode;
use crate::engine::{Output, OutputImage};
use crate::error::{Error, Result};
use crate::geometry::{Affine, Point};
use crate::landmarks::{self, FaceMesh};
use crate::matte;
use crate::metadata::MetadataKind;
use crate::models;
use crate::options::{Background, MultiFacePolicy, OutputFormat, PixelFormat, PixelsRef, ProcessOptions};
use crate::seal;
use crate::privacy::receipt::{GeometryInfo, OutputInfo, Receipt, SandboxState, Step, RECEIPT_SCHEMA};
use crate::privacy::secure_buffer::{take_locked_bytes, take_zeroised_bytes, SecureBuf};
use crate::quality;
use crate::raster::{reduce_u8_box, resize_u8, Rgb8};
use crate::retouch;
use crate::runtime::{self, RuntimeInfo};
use ort::session::Session;
use serde::Serialize;
use std::time::Instant;

/// Long sides of the detector's passes, coarsest first; each runs only when the one before found
/// nothing. RetinaFace on two threads: 0.9 ms at 160, 2.5 ms at 320, ~10 ms at 640. A headshot's
/// face is large: at 160 it is found if it spans about 1/8 of the photo's long side.
const DETECT_PASSES: [f32; 3] = [160.0, 320.0, 640.0];
/// With `multi_face: error` the first pass is 320, so a bystander down to about 1/16 of the long
/// side still counts as a second face (as it did before the 160 pass existed).
const DETECT_PASSES_STRICT: [f32; 2] = [320.0, 640.0];
/// First JPEG decode: DCT-scaled to about this long side. In a portrait the head is a third or
/// more of the picture, so this is usually all the output needs and one decode suffices.
const FIRST_DECODE_SIDE: f32 = 1000.0;
/// The crown sits this many eye-to-chin distances above the eye line (adult head proportions:
/// the eyes are close to the middle of the head).
pub(crate) const CROWN_RATIO: f32 = 1.0;

pub(crate) struct Sessions {
    detect: Session,
    mesh: Session,
    segment: Session,
    /// A second session of the embedded segmenter for its mirror-image run, which then goes
    /// alongside the first (see [`Sessions::new`]); None runs both on `segment`.
    segment_mirror: Option<Session>,
    /// The user's matting model, when one replaces the embedded segmenter.
    user_matting: Option<models::UserModel>,
}

impl Sessions {
    pub(crate) fn new(threads: usize, user_matting: Option<&models::UserModel>) -> Result<Sessions> {
        // ORT's second intra-op thread gains little on the 256 px segmenter (2.97 -> 2.80 ms a
        // run, Python, this VM), while a second run alongside on its own thread gains nearly all
        // of it: with two or more threads the two runs go on two sessions of half the threads.
        let pair = user_matting.is_none() && threads >= 2 && crate::parallel::threads() >= 2;
        let seg_threads = if pair { threads / 2 } else { threads };
        let detect = runtime::session("detect", models::DETECTOR.bytes, threads)?;
        let mesh = runtime::session("landmarks", models::FACE_MESH.bytes, threads)?;
        let segment = match user_matting {
            Some(m) => runtime::session("matte", &m.bytes, seg_threads)?,
            None => runtime::session("matte", models::SEGMENTER.bytes, seg_threads)?,
        };
        // (Built two at a time on two threads, start-up was no faster, and the evaluation's peak
        // RSS with a user's ISNet went 1570 -> 1745 MiB.)
        let segment_mirror = if pair { Some(runtime::session("matte", models::SEGMENTER.bytes, seg_threads)?) } else { None };
        Ok(Sessions {
            detect,
            mesh,
            segment,
            segment_mirror,
            user_matting: user_matting.map(|m| models::UserModel { bytes: Vec::new(), ..m.clone() }),
        })
    }

    /// The models that run, as the receipt lists them.
    fn records(&self) -> Vec<models::ModelRecord> {
        let mut v: Vec<models::ModelRecord> = [models::DETECTOR, models::FACE_MESH].iter().map(Into::into).collect();
        v.push(match &self.user_matting {
            Some(m) => m.record(),
            None => (&models::SEGMENTER).into(),
        });
        v
    }
}

pub(crate) enum JobInput {
    Encoded(SecureBuf<u8>),
    Pixels { data: SecureBuf<u8>, width: u32, height: u32, stride: usize, format: PixelFormat },
}

pub(crate) struct Job {
    pub input: JobInput,
    pub options: ProcessOptions,
    pub limits: Limits,
    pub deadline: Option<Deadline>,
}

/// When a request's time budget runs out (submission time + `time_budget`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    pub at: Instant,
    pub budget_ms: u64,
}

impl Deadline {
    pub fn expired(&self) -> bool {
        Instant::now() >= self.at
    }
    pub fn error(&self, stage: &'static str) -> Error {
        Error::Timeout { budget_ms: self.budget_ms, stage }
    }
    pub fn check(&self, stage: &'static str) -> Result<()> {
        if self.expired() {
            return Err(self.error(stage));
        }
        Ok(())
    }
}

/// Checked before each stage, so a request over its budget stops at the next boundary (the
/// engine's watchdog stops a running inference in between). Nothing partial is returned.
fn budget(d: Option<Deadline>, stage: &'static str) -> Result<()> {
    d.map_or(Ok(()), |d| d.check(stage))
}

/// Consent comes before anything else: without it, not one pixel is decoded or analysed.
pub(crate) fn check_consent(o: &ProcessOptions) -> Result<()> {
    if !o.consent.face_geometry {
        return Err(Error::ConsentRequired { scope: "face_geometry", purpose: "detecting and measuring the face to crop and level the photo" });
    }
    if o.retouch_strength() > 0.0 && !o.consent.appearance {
        return Err(Error::ConsentRequired { scope: "appearance", purpose: "retouching (white balance, exposure, skin smoothing)" });
    }
    Ok(())
}

struct Timer {
    steps: Vec<Step>,
    t: Instant,
}

impl Timer {
    fn new() -> Self {
        Timer { steps: Vec::new(), t: Instant::now() }
    }
    fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.steps.push(Step { name, ms: (now - self.t).as_secs_f64() * 1e3 });
        self.t = now;
    }
}

/// The face found and measured, on a raster of the photo at the resolution the output needs.
struct Located {
    src: Rgb8,
    /// Raster pixels per full-resolution pixel.
    src_scale: f32,
    face: Face,
    mesh: FaceMesh,
    faces_found: usize,
    metadata: Vec<MetadataKind>,
}

/// Eye line, roll and head height measured on the mesh, in raster coordinates.
#[derive(Clone, Copy, Debug)]
struct HeadGeometry {
    eye_mid: Point,
    roll: f32,
    /// Crown to chin along the face's upright axis.
    head: f32,
}

fn head_geometry(mesh: &FaceMesh) -> HeadGeometry {
    let (l, r) = (mesh.left_eye_center(), mesh.right_eye_center());
    let roll = (r.y - l.y).atan2(r.x - l.x);
    let eye_mid = l.mid(r);
    let chin = mesh.chin();
    // Unit "down" vector of the upright face: the eye direction turned by +90° (y points down).
    let (s, c) = roll.sin_cos();
    let chin_dist = (chin.x - eye_mid.x) * -s + (chin.y - eye_mid.y) * c;
    HeadGeometry { eye_mid, roll, head: chin_dist.max(1.0) * (1.0 + CROWN_RATIO) }
}

/// Decodes, detects, picks the face, re-decodes at the scale the output needs, runs the mesh.
fn locate(s: &mut Sessions, job: &Job, need_head_px: f32, timer: &mut Timer) -> Result<Located> {
    budget(job.deadline, "before decoding")?;
    let (first, probe, metadata) = match &job.input {
        JobInput::Encoded(bytes) => {
            let probe = decode::probe(bytes, &job.limits)?;
            let long = probe.width.max(probe.height).max(1) as f32;
            let d = decode::decode(bytes, &probe, (FIRST_DECODE_SIDE / long).min(1.0))?;
            let meta = probe.metadata.clone();
            (d, Some(probe), meta)
        }
        JobInput::Pixels { data, width, height, stride, format } => {
            let p = PixelsRef { data, width: *width, height: *height, stride: *stride, format: *format };
            (decode::from_pixels(&p, &job.limits)?, None, Vec::new())
        }
    };
    timer.lap("decode");

    budget(job.deadline, "before face detection")?;
    let passes: &[f32] = match job.options.multi_face {
        MultiFacePolicy::Error => &DETECT_PASSES_STRICT,
        MultiFacePolicy::Largest => &DETECT_PASSES,
    };
    let (faces, det_to_raster) = detect_passes(s, &first.image, passes)?;
    timer.lap("detect");
    let faces_found = faces.len();
    // The detector needs about 20 of its own pixels across a face, at its finest pass.
    let full_long = first.image.width.max(first.image.height) as f32 / first.scale.max(1e-6);
    let finest = passes.last().copied().unwrap_or(1.0);
    let min_px = (20.0 * (full_long / finest).max(1.0)) as u32;
    let chosen = choose_face(&faces, &first, det_to_raster, job.options.multi_face, min_px)?;
    // To full-resolution coordinates.
    let to_full = det_to_raster / first.scale;
    let face_full = scale_face(&chosen, to_full);

    // Pick the raster scale: enough pixels for the head at output size (a little headroom, as
    // the box-based head estimate is rough).
    let head_full_est = face_full.bbox.height() * 1.9;
    let want = (need_head_px * 1.1 / head_full_est.max(1.0)).min(1.0);
    let decoded = match (&job.input, &probe) {
        (JobInput::Encoded(bytes), Some(p)) if want > first.scale * 1.001 => {
            drop(first);
            budget(job.deadline, "before the detail decode")?;
            let d = decode::decode(bytes, p, want)?;
            timer.lap("decode_detail");
            d
        }
        _ => first,
    };
    let Decoded { image: src, scale: src_scale, .. } = decoded;
    let face = scale_face(&face_full, src_scale);
    budget(job.deadline, "before landmarks")?;
    let mesh = landmarks::run(&mut s.mesh, &src, &face)?;
    timer.lap("landmarks");
    Ok(Located { src, src_scale, face, mesh, faces_found, metadata })
}

/// Runs the detector pass by pass until one finds a face. A pass no larger than the one before
/// (the picture is already smaller than the pass) is skipped: it would see the same pixels.
fn detect_passes(s: &mut Sessions, img: &Rgb8, passes: &[f32]) -> Result<(Vec<Face>, f32)> {
    let long = img.width.max(img.height) as f32;
    let mut seen = 0.0f32;
    let mut last = (Vec::new(), 1.0);
    for &side in passes {
        let effective = side.min(long);
        if effective <= seen {
            continue;
        }
        seen = effective;
        last = detect_at(s, img, side)?;
        if !last.0.is_empty() {
            break;
        }
    }
    Ok(last)
}

/// Detects on a copy at most `side` pixels long; returns the faces and raster px per detector px.
fn detect_at(s: &mut Sessions, img: &Rgb8, side: f32) -> Result<(Vec<Face>, f32)> {
    let long = img.width.max(img.height) as f32;
    if long <= side {
        return Ok((detect::detect(&mut s.detect, img)?, 1.0));
    }
    let k = side / long;
    let (dw, dh) = (((img.width as f32 * k).round() as usize).max(1), ((img.height as f32 * k).round() as usize).max(1));
    // A copy 4x or more smaller is box-filtered (the mean over each pixel's footprint): there
    // Catmull-Rom's taps cost most (3.5x the work at 1 MP to 160 px) and its sharpness is lost
    // on the detector anyway. Milder reductions keep Catmull-Rom.
    let small = if k <= 0.25 { reduce_u8_box(img, dw, dh) } else { resize_u8(img, None, dw, dh) };
    let f = detect::detect(&mut s.detect, &small)?;
    Ok((f, img.width as f32 / small.width as f32))
}

fn scale_face(f: &Face, k: f32) -> Face {
    Face { bbox: f.bbox.scaled(k), score: f.score, landmarks: f.landmarks.map(|p| Point::new(p.x * k, p.y * k)) }
}

/// The largest face, favouring central ones; or an error when the policy asks for exactly one.
fn choose_face(faces: &[Face], d: &Decoded, det_to_raster: f32, policy: MultiFacePolicy, min_px: u32) -> Result<Face> {
    if faces.len() > 1 && policy == MultiFacePolicy::Error {
        return Err(Error::MultipleFaces { count: faces.len() });
    }
    let (w, h) = (d.image.width as f32 / det_to_raster, d.image.height as f32 / det_to_raster);
    let centre = Point::new(w * 0.5, h * 0.5);
    let diag = (w * w + h * h).sqrt().max(1.0);
    faces
        .iter()
        .max_by(|a, b| {
            let score = |f: &Face| f.bbox.area() * (1.0 - 0.5 * f.bbox.center().dist(centre) / diag);
            score(a).total_cmp(&score(b))
        })
        .cloned()
        .ok_or(Error::NoFace { min_px })
}

/// What [`crate::Engine::analyse`] reports about a photo: pose and geometry, no landmarks.
#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub width: u32,
    pub height: u32,
    pub faces: usize,
    pub score: f32,
    pub roll_deg: f32,
    pub yaw_deg: f32,
    pub pitch_deg: f32,
    /// Eye line and head height (crown to chin) as fractions of the picture height.
    pub eye_line: f32,
    pub head_height: f32,
    pub eye_openness: (f32, f32),
}

pub(crate) fn analyse(s: &mut Sessions, job: Job) -> Result<Analysis> {
    let mut timer = Timer::new();
    // Analysis works at the resolution detection needs; no output size to serve.
    let loc = locate(s, &job, 0.0, &mut timer)?;
    let g = head_geometry(&loc.mesh);
    let (yaw, pitch) = loc.mesh.yaw_pitch_deg();
    let h = loc.src.height as f32;
    let r = Analysis {
        width: (loc.src.width as f32 / loc.src_scale).round() as u32,
        height: (h / loc.src_scale).round() as u32,
        faces: loc.faces_found,
        score: loc.face.score,
        roll_deg: g.roll.to_degrees(),
        yaw_deg: yaw,
        pitch_deg: pitch,
        eye_line: g.eye_mid.y / h,
        head_height: g.head / h,
        eye_openness: loc.mesh.eye_openness(),
    };
    drop(loc);
    crate::privacy::ort_alloc::end_job();
    take_zeroised_bytes();
    Ok(r)
}

pub(crate) fn process(s: &mut Sessions, runtime: &RuntimeInfo, sandbox: &SandboxState, job: Job) -> Result<Output> {
    take_zeroised_bytes();
    take_locked_bytes();
    let o = &job.options.clone();
    let p = &o.preset;
    let (w, h) = (p.width_px as usize, p.height_px as usize);
    let mut timer = Timer::new();

    let mut loc = locate(s, &job, p.head_height.target * h as f32, &mut timer)?;
    let deadline = job.deadline;
    drop(job); // the input copy is wiped as soon as the raster exists
    budget(deadline, "before composing")?;
    let g = head_geometry(&loc.mesh);
    let k = p.head_height.target * h as f32 / g.head;
    let t = Affine::similarity(g.eye_mid, Point::new(w as f32 * 0.5, p.eye_line.target * h as f32), -g.roll, k);
    let Composition { frame, coverage, extended } = compose::compose(&loc.src, &t, w, h);
    timer.lap("compose");
    let mesh_out = loc.mesh.transformed(&t);
    let scale_full = k * loc.src_scale;
    let (yaw, pitch) = loc.mesh.yaw_pitch_deg();
    // The photo's raster is done with: the helper zeroes it while this thread assesses, and it
    // is then dropped (kept for the next photo) without another pass.
    let (findings, ()) = crate::parallel::join(|| quality::assess(&quality::Facts {
        preset: p,
        faces_found: loc.faces_found,
        roll_deg: g.roll.to_degrees(),
        yaw_deg: yaw,
        pitch_deg: pitch,
        upscale: scale_full,
        eye_openness: loc.mesh.eye_openness(),
        extended,
        frame: &frame,
        mesh: &mesh_out,
    }), || loc.src.data.wipe_now());
    timer.lap("quality");
    let landmarks = o.return_landmarks.then(|| mesh_out.points.iter().map(|q| [q[0], q[1]]).collect());
    // The raster is the photo scaled by src_scale about the origin (pixel-edge coordinates).
    let photo_to_frame = o.return_landmarks.then(|| {
        let k = loc.src_scale;
        [t.a * k, t.b * k, t.c * k, t.d * k, t.tx, t.ty]
    });
    let detection_score = loc.face.score;
    let (faces_found, metadata) = (loc.faces_found, loc.metadata.clone());
    drop(loc);

    budget(deadline, "before matting")?;
    let coarse = match &s.user_matting {
        Some(m) => matte::user_mask(&mut s.segment, m, &frame)?,
        None => matte::person_mask_small(&mut s.segment, s.segment_mirror.as_mut(), &frame)?,
    };
    timer.lap("segment");
    let bg_choice = match &o.background {
        Some(b) => b.clone(),
        None => Background::parse(&p.default_background)?,
    };
    // Only a blurred-original background needs the photo once the foreground exists; otherwise
    // the frame becomes the foreground in place instead of in a second frame-sized buffer.
    let (alpha, mut fg, frame) = if matches!(bg_choice, Background::BlurredOriginal) {
        let (alpha, fg) = matte::refine(&frame, &coarse, &coverage);
        (alpha, fg, Some(frame))
    } else {
        let mut frame = frame;
        let alpha = matte::refine_in_place(&mut frame, &coarse, &coverage);
        (alpha, frame, None)
    };
    drop((coarse, coverage));
    timer.lap("matte");

    let strength = o.retouch_strength();
    if strength > 0.0 {
        budget(deadline, "before retouching")?;
        retouch::apply(&mut fg, &alpha, &mesh_out, strength);
        timer.lap("retouch");
    }

    budget(deadline, "before the background")?;
    let bg = background::render(&bg_choice, frame.as_ref().unwrap_or(&fg), &alpha)?;
    let result8 = background::composite(&fg, &alpha, bg.as_deref());
    drop(bg);
    timer.lap("background");

    budget(deadline, "before encoding")?;
    // The job's inferences are over: ORT's tensors are zeroed on the helper while this thread
    // encodes (and by this thread too once it has encoded, whatever is left), and counted here
    // for the receipt; so are the matte's frame-sized buffers, which are then dropped here (and
    // kept for the next photo) without another pass.
    let mut freed = crate::privacy::ort_alloc::take_freed();
    let freed2 = freed.split_half();
    let (mut fg, mut alpha, mut frame) = (fg, alpha, frame);
    let mut chores: Vec<crate::parallel::Chore> = vec![
        Box::new(|| {
            fg.data.wipe_now();
            0
        }),
        Box::new(|| {
            alpha.data.wipe_now();
            0
        }),
        Box::new(|| freed.wipe()),
        Box::new(|| freed2.wipe()),
    ];
    if let Some(f) = frame.as_mut() {
        chores.insert(1, Box::new(|| {
            f.data.wipe_now();
            0
        }));
    }
    let (encoded, wiped) = crate::parallel::join_chores(|| encode_output(o, &result8, &mut timer), chores);
    drop((fg, frame, alpha));
    crate::privacy::secure_buffer::count_zeroised(wiped);
    let (image, out_info) = encoded?;
    drop(result8);
    timer.lap(if o.seal.is_some() { "seal" } else { "encode" });

    // Any ORT tensor freed after `take_freed` (none today) is zeroed now, before the receipt
    // counts the bytes.
    crate::privacy::ort_alloc::end_job();
    let receipt = Receipt {
        schema: RECEIPT_SCHEMA,
        version: env!("CARGO_PKG_VERSION"),
        preset: p.name.clone(),
        output: out_info,
        geometry: GeometryInfo {
            faces_found,
            detection_score,
            roll_corrected_deg: g.roll.to_degrees(),
            yaw_deg: yaw,
            pitch_deg: pitch,
            scale: scale_full,
            head_height: g.head * k / h as f32,
            eye_line: p.eye_line.target,
            extended,
        },
        steps: timer.steps,
        models: s.records(),
        runtime: runtime.clone(),
        consent: o.consent.scopes(),
        sandbox: sandbox.clone(),
        network: "none",
        disk: "none",
        metadata_removed: metadata,
        bytes_zeroised: take_zeroised_bytes(),
        bytes_locked: take_locked_bytes(),
        freed_memory: if crate::privacy::wipe_alloc::installed() { "all wiped (WipeOnFree allocator)" } else { "lichtbild buffers wiped; install WipeOnFree to wipe decoders' buffers too" },
        cpu_arena: "disabled",
        ort_memory: crate::privacy::ort_alloc::RECEIPT,
        retouched: strength > 0.0,
    };
    Ok(Output { image, findings, receipt, landmarks, photo_to_frame })
}

/// The composite in the requested format (sealed when asked), and what the receipt says of it.
fn encode_output(o: &ProcessOptions, result8: &crate::raster::Image<u8>, timer: &mut Timer) -> Result<(OutputImage, OutputInfo)> {
    let p = &o.preset;
    let (w, h) = (p.width_px, p.height_px);
    Ok(match o.format {
        OutputFormat::Pixels => {
            let rgba = to_rgba(result8);
            let info = OutputInfo { width: w, height: h, dpi: p.dpi, format: o.format, bytes: 0, quality: None, sealed: None };
            (OutputImage::Pixels { width: w, height: h, rgba: rgba.into_vec() }, info)
        }
        f => {
            let (bytes, q) = encode::encode(result8, f, o.quality, p.dpi, o.max_kb)?;
            let quality = matches!(f, OutputFormat::Jpeg | OutputFormat::Webp).then_some(q);
            let mut info = OutputInfo { width: w, height: h, dpi: p.dpi, format: f, bytes: bytes.len(), quality, sealed: None };
            let bytes = match &o.seal {
                // The plaintext stays in the wiped buffer; only ciphertext is handed over.
                Some(s) => {
                    let sealed = seal::seal(&bytes, s)?;
                    drop(bytes);
                    timer.lap("encode");
                    info.sealed = Some(s.info());
                    info.bytes = sealed.len();
                    sealed
                }
                None => bytes.into_vec(),
            };
            (OutputImage::Encoded { format: f, bytes }, info)
        }
    })
}

fn to_rgba(img: &crate::raster::Image<u8>) -> SecureBuf<u8> {
    if img.channels == 4 {
        return img.data.clone();
    }
    let mut out = SecureBuf::zeroed(img.width * img.height * 4);
    for (o, i) in out.chunks_exact_mut(4).zip(img.data.chunks_exact(3)) {
        o[..3].copy_from_slice(i);
        o[3] = 255;
    }
    out
}
