//! Inventory of the metadata an input carries. Only the kinds are kept, never the values.
//!
//! The container walkers here (JPEG markers, PNG chunks, WebP RIFF chunks, GIF blocks) are
//! hand-written, bounded and panic-free: every index is checked and every loop advances by at least
//! one byte. EXIF itself is read with kamadak-exif. Malformed EXIF still counts as "EXIF present";
//! nothing is decoded beyond what is needed to name the kind.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataKind {
    Exif,
    GpsLocation,
    CameraSerial,
    OwnerName,
    Timestamps,
    MakerNotes,
    Xmp,
    Iptc,
    IccProfile,
    Comment,
    Text,
}

/// Container formats lichtbild reads, detected from magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Container {
    Jpeg,
    Png,
    Webp,
    Gif,
}

impl Container {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Container::Jpeg => "jpeg",
            Container::Png => "png",
            Container::Webp => "webp",
            Container::Gif => "gif",
        }
    }
}

const PNG_SIG: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Detects the container from its magic bytes.
pub(crate) fn sniff(b: &[u8]) -> Option<Container> {
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Container::Jpeg)
    } else if b.starts_with(PNG_SIG) {
        Some(Container::Png)
    } else if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some(Container::Webp)
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        Some(Container::Gif)
    } else {
        None
    }
}

/// True when `b` is a proper prefix of one of the supported magic numbers (a truncated header).
pub(crate) fn is_magic_prefix(b: &[u8]) -> bool {
    if b.is_empty() {
        return false;
    }
    let pre = |m: &[u8]| b.len() < m.len() && m.starts_with(b);
    pre(&[0xFF, 0xD8, 0xFF])
        || pre(PNG_SIG)
        || pre(b"GIF87a")
        || pre(b"GIF89a")
        || pre(b"RIFF")
        || (b.len() < 12 && b.starts_with(b"RIFF") && (b.len() <= 8 || b"WEBP".starts_with(&b[8..])))
}

/// Lists the kinds of metadata found in an encoded image (JPEG, PNG, WebP), sorted, deduplicated.
pub fn inventory(bytes: &[u8]) -> Vec<MetadataKind> {
    let mut found = Vec::new();
    match sniff(bytes) {
        Some(Container::Jpeg) => jpeg_inventory(bytes, &mut found),
        Some(Container::Png) => png_inventory(bytes, &mut found),
        Some(Container::Webp) => webp_inventory(bytes, &mut found),
        Some(Container::Gif) => gif_inventory(bytes, &mut found),
        None => {}
    }
    found.sort();
    found.dedup();
    found
}

/// EXIF orientation (1..=8), 1 when absent or malformed.
pub fn orientation(bytes: &[u8]) -> u8 {
    let tiff = match sniff(bytes) {
        Some(Container::Jpeg) => {
            let mut t = None;
            jpeg_segments(bytes, |m, p| {
                if m == 0xE1 {
                    if let Some(x) = exif_app1_payload(p) {
                        t = Some(x);
                        return false;
                    }
                }
                m != 0xDA // EXIF after the image data is not honoured
            });
            t
        }
        Some(Container::Png) => {
            let mut t = None;
            png_chunks(bytes, |ty, d| {
                if ty == b"eXIf" {
                    t = Some(strip_exif_prefix(d));
                    return false;
                }
                true
            });
            t
        }
        Some(Container::Webp) => {
            let mut t = None;
            webp_chunks(bytes, |ty, d| {
                if ty == b"EXIF" {
                    t = Some(strip_exif_prefix(d));
                    return false;
                }
                true
            });
            t
        }
        _ => None,
    };
    match tiff.map(|t| walk_tiff(t, &mut Vec::new())) {
        Some(Some(o)) if (1..=8).contains(&o) => o as u8,
        _ => 1,
    }
}

// ---------------------------------------------------------------------------------------------
// JPEG

/// Calls `f(marker, payload)` for every marker segment with a length field (APPn, COM, SOFn,
/// DQT, SOS, ...) until EOI, the end of the data or `f` returning false. Entropy-coded data after
/// SOS is skipped by scanning for the next real marker. A segment cut short by the end of the
/// data is passed truncated and ends the walk.
pub(crate) fn jpeg_segments<'a>(b: &'a [u8], mut f: impl FnMut(u8, &'a [u8]) -> bool) {
    let mut i = 2; // after SOI
    while i < b.len() {
        if b[i] != 0xFF {
            // Entropy-coded data (or garbage between segments): find the next 0xFF.
            match memchr::memchr(0xFF, &b[i..]) {
                Some(p) => i += p,
                None => return,
            }
            continue;
        }
        while i < b.len() && b[i] == 0xFF {
            i += 1; // fill bytes
        }
        let Some(&m) = b.get(i) else { return };
        i += 1;
        match m {
            0x00 | 0x01 | 0xD0..=0xD8 => continue, // stuffed byte, TEM, RSTn, stray SOI
            0xD9 => return,                        // EOI
            _ => {
                let Some(len) = b.get(i..i + 2).map(|s| u16::from_be_bytes([s[0], s[1]]) as usize) else { return };
                if len < 2 {
                    return;
                }
                let start = i + 2;
                let end = i + len;
                if end > b.len() {
                    f(m, &b[start.min(b.len())..]);
                    return;
                }
                if !f(m, &b[start..end]) {
                    return;
                }
                i = end;
            }
        }
    }
}

fn exif_app1_payload(p: &[u8]) -> Option<&[u8]> {
    // "Exif\0\0" (a few writers put 0xFF as the 6th byte).
    if p.len() >= 6 && &p[..5] == b"Exif\0" {
        Some(&p[6..])
    } else {
        None
    }
}

fn jpeg_inventory(b: &[u8], out: &mut Vec<MetadataKind>) {
    use MetadataKind::*;
    jpeg_segments(b, |m, p| {
        match m {
            0xE1 => {
                if let Some(t) = exif_app1_payload(p) {
                    out.push(Exif);
                    walk_tiff(t, out);
                } else if p.starts_with(b"http://ns.adobe.com/xap/1.0/\0")
                    || p.starts_with(b"http://ns.adobe.com/xmp/extension/\0")
                    || p.starts_with(b"<x:xmpmeta")
                    || p.starts_with(b"<?xpacket")
                {
                    out.push(Xmp);
                }
            }
            0xE2 if p.starts_with(b"ICC_PROFILE\0") => out.push(IccProfile),
            0xED if p.starts_with(b"Photoshop 3.0\0") || p.starts_with(b"Adobe_Photoshop2.5:") => out.push(Iptc),
            0xFE => out.push(Comment),
            _ => {}
        }
        true
    });
}

// ---------------------------------------------------------------------------------------------
// PNG

/// Calls `f(type, data)` for every chunk until IEND, the end of the data or `f` returning false.
pub(crate) fn png_chunks<'a>(b: &'a [u8], mut f: impl FnMut(&[u8; 4], &'a [u8]) -> bool) {
    if !b.starts_with(PNG_SIG) {
        return;
    }
    let mut i = PNG_SIG.len();
    while let Some(h) = b.get(i..i + 8) {
        let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let ty = [h[4], h[5], h[6], h[7]];
        let start = i + 8;
        let end = start.saturating_add(len).min(b.len());
        if !f(&ty, &b[start..end]) || &ty == b"IEND" {
            return;
        }
        // data + CRC; a chunk running past the end stops the walk.
        match start.checked_add(len).and_then(|e| e.checked_add(4)) {
            Some(next) if next <= b.len() => i = next,
            _ => return,
        }
    }
}

fn png_inventory(b: &[u8], out: &mut Vec<MetadataKind>) {
    use MetadataKind::*;
    png_chunks(b, |ty, d| {
        match ty {
            b"eXIf" => {
                out.push(Exif);
                walk_tiff(strip_exif_prefix(d), out);
            }
            b"iCCP" => out.push(IccProfile),
            b"tIME" => out.push(Timestamps),
            b"iTXt" | b"tEXt" | b"zTXt" => {
                let kw_end = d.iter().position(|&c| c == 0).unwrap_or(d.len()).min(79);
                let kw = &d[..kw_end];
                if ty == b"iTXt" && kw == b"XML:com.adobe.xmp" {
                    out.push(Xmp);
                } else {
                    classify_png_text(ty, kw, d.get(kw_end + 1..).unwrap_or(&[]), out);
                }
            }
            _ => {}
        }
        true
    });
}

fn classify_png_text(ty: &[u8; 4], kw: &[u8], rest: &[u8], out: &mut Vec<MetadataKind>) {
    use MetadataKind::*;
    let kw_lower: Vec<u8> = kw.to_ascii_lowercase();
    // ImageMagick / exiftool store profiles as hex in "Raw profile type <name>" text chunks.
    if let Some(name) = kw_lower.strip_prefix(b"raw profile type ") {
        match name {
            b"exif" | b"app1" => {
                out.push(Exif);
                if ty == b"tEXt" {
                    if let Some(raw) = decode_raw_profile(rest) {
                        let t = raw.strip_prefix(b"Exif\0\0").unwrap_or(&raw);
                        walk_tiff(t, out);
                    }
                }
            }
            b"xmp" => out.push(Xmp),
            b"iptc" | b"8bim" => out.push(Iptc),
            b"icc" | b"icm" => out.push(IccProfile),
            _ => out.push(Text),
        }
        return;
    }
    out.push(Text);
    match kw_lower.as_slice() {
        b"comment" | b"description" => out.push(Comment),
        b"author" | b"copyright" => out.push(OwnerName),
        b"creation time" => out.push(Timestamps),
        b"xml:com.adobe.xmp" => out.push(Xmp),
        _ => {}
    }
}

/// Decodes the hex body of an ImageMagick "Raw profile type" text: `\nname\n   LEN\nHEX...`.
fn decode_raw_profile(text: &[u8]) -> Option<Vec<u8>> {
    let mut lines = text.splitn(4, |&c| c == b'\n');
    let _empty = lines.next()?;
    let _name = lines.next()?;
    let len: usize = std::str::from_utf8(lines.next()?).ok()?.trim().parse().ok()?;
    let hex = lines.next()?;
    let mut outv = Vec::with_capacity(len.min(hex.len() / 2));
    let mut hi: Option<u8> = None;
    for &c in hex {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => continue,
        };
        match hi.take() {
            None => hi = Some(v),
            Some(h) => {
                outv.push(h << 4 | v);
                if outv.len() == len {
                    break;
                }
            }
        }
    }
    Some(outv)
}

// ---------------------------------------------------------------------------------------------
// WebP

/// Calls `f(fourcc, data)` for every top-level chunk of a RIFF/WEBP file.
pub(crate) fn webp_chunks<'a>(b: &'a [u8], mut f: impl FnMut(&[u8; 4], &'a [u8]) -> bool) {
    if sniff(b) != Some(Container::Webp) {
        return;
    }
    let mut i = 12;
    while let Some(h) = b.get(i..i + 8) {
        let ty = [h[0], h[1], h[2], h[3]];
        let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
        let start = i + 8;
        let end = start.saturating_add(len).min(b.len());
        if !f(&ty, &b[start..end]) {
            return;
        }
        match start.checked_add(len).and_then(|e| e.checked_add(len & 1)) {
            Some(next) if next <= b.len() => i = next,
            _ => return,
        }
    }
}

fn webp_inventory(b: &[u8], out: &mut Vec<MetadataKind>) {
    use MetadataKind::*;
    webp_chunks(b, |ty, d| {
        match ty {
            b"EXIF" => {
                out.push(Exif);
                walk_tiff(strip_exif_prefix(d), out);
            }
            b"XMP " => out.push(Xmp),
            b"ICCP" => out.push(IccProfile),
            _ => {}
        }
        true
    });
}

fn strip_exif_prefix(d: &[u8]) -> &[u8] {
    exif_app1_payload(d).unwrap_or(d)
}

// ---------------------------------------------------------------------------------------------
// GIF

fn gif_inventory(b: &[u8], out: &mut Vec<MetadataKind>) {
    use MetadataKind::*;
    // Skips a run of sub-blocks starting at `i`; returns the index after the terminator.
    fn skip_sub_blocks(b: &[u8], mut i: usize) -> Option<usize> {
        loop {
            let n = *b.get(i)? as usize;
            i += 1;
            if n == 0 {
                return Some(i);
            }
            i += n;
        }
    }
    let Some(&flags) = b.get(10) else { return };
    let mut i = 13;
    if flags & 0x80 != 0 {
        i += 3 << ((flags & 7) + 1);
    }
    while let Some(&intro) = b.get(i) {
        match intro {
            0x21 => {
                let Some(&label) = b.get(i + 1) else { return };
                match label {
                    0xFE => out.push(Comment),
                    0xFF => {
                        let id = b.get(i + 3..i + 14).unwrap_or(&[]);
                        if id == b"XMP DataXMP" {
                            out.push(Xmp);
                        } else if id == b"ICCRGBG1012" {
                            out.push(IccProfile);
                        }
                    }
                    _ => {}
                }
                match skip_sub_blocks(b, i + 2) {
                    Some(n) => i = n,
                    None => return,
                }
            }
            0x2C => {
                let Some(&f) = b.get(i + 9) else { return };
                i += 10;
                if f & 0x80 != 0 {
                    i += 3 << ((f & 7) + 1);
                }
                i += 1; // LZW minimum code size
                match skip_sub_blocks(b, i) {
                    Some(n) => i = n,
                    None => return,
                }
            }
            _ => return, // 0x3B trailer or garbage
        }
    }
}

// ---------------------------------------------------------------------------------------------
// TIFF / EXIF

/// Reads a TIFF-structured EXIF block with kamadak-exif, adding the sensitive kinds it finds to
/// `out`; damaged blocks count for whatever parses. Returns IFD0's orientation, if there is one.
fn walk_tiff(t: &[u8], out: &mut Vec<MetadataKind>) -> Option<u32> {
    use exif::{Context, In, Tag};
    use MetadataKind::*;
    let exif = match exif::Reader::new().continue_on_error(true).read_raw(t.to_vec()) {
        Ok(e) => e,
        Err(e) => e.distill_partial_result(|_| {}).ok()?,
    };
    let mut orientation = None;
    for f in exif.fields() {
        let kind = match (f.tag.context(), f.tag) {
            (_, Tag::Orientation) if f.ifd_num == In::PRIMARY => {
                orientation = f.value.get_uint(0);
                None
            }
            // Any GPS field: coordinates, altitude, GPS time stamps.
            (Context::Gps, _) => Some(GpsLocation),
            (_, Tag::Artist | Tag::Copyright | Tag::CameraOwnerName) => Some(OwnerName),
            // XPAuthor (Windows) has no name in the crate.
            (Context::Tiff, t) if t.number() == 0x9C9D => Some(OwnerName),
            (_, Tag::BodySerialNumber | Tag::LensSerialNumber | Tag::ImageUniqueID) => Some(CameraSerial),
            (Context::Tiff, t) if t.number() == 0xC62F => Some(CameraSerial), // DNG CameraSerialNumber
            (
                _,
                Tag::DateTime
                | Tag::DateTimeOriginal
                | Tag::DateTimeDigitized
                | Tag::OffsetTime
                | Tag::OffsetTimeOriginal
                | Tag::OffsetTimeDigitized
                | Tag::SubSecTime
                | Tag::SubSecTimeOriginal
                | Tag::SubSecTimeDigitized,
            ) => Some(Timestamps),
            (_, Tag::MakerNote) => Some(MakerNotes),
            _ => None,
        };
        out.extend(kind);
    }
    orientation
}

#[cfg(test)]
mod tests {
    use crate::test_data::*;
    use super::MetadataKind::*;
    use super::*;


    const EXIF_KINDS: [MetadataKind; 6] = [Exif, GpsLocation, CameraSerial, OwnerName, Timestamps, MakerNotes];

    fn has_all(found: &[MetadataKind], want: &[MetadataKind]) {
        for k in want {
            assert!(found.contains(k), "missing {k:?} in {found:?}");
        }
    }

    #[test]
    fn jpeg_with_everything() {
        let inv = inventory(META_JPG);
        has_all(&inv, &EXIF_KINDS);
        has_all(&inv, &[Xmp, Iptc, IccProfile, Comment]);
        assert!(!inv.contains(&Text));
        assert_eq!(orientation(META_JPG), 1);
    }

    #[test]
    fn png_with_everything() {
        let inv = inventory(META_PNG);
        has_all(&inv, &EXIF_KINDS);
        has_all(&inv, &[Xmp, IccProfile, Text, Comment]);
    }

    #[test]
    fn webp_with_everything() {
        let inv = inventory(META_WEBP);
        has_all(&inv, &EXIF_KINDS);
        has_all(&inv, &[Xmp, IccProfile]);
    }

    #[test]
    fn gif_comment() {
        assert_eq!(inventory(COMMENT_GIF), vec![Comment]);
        assert_eq!(orientation(COMMENT_GIF), 1);
    }

    #[test]
    fn fixtures() {
        // grace_hopper.jpg: JFIF + a COM segment; astronaut.png: iCCP, tIME, a "Comment" tEXt.
        assert_eq!(inventory(GRACE), vec![Comment]);
        assert_eq!(inventory(ASTRONAUT), vec![Timestamps, IccProfile, Comment, Text]);
        assert_eq!(orientation(GRACE), 1);
    }

    #[test]
    fn sorted_and_deduplicated() {
        let inv = inventory(META_JPG);
        let mut s = inv.clone();
        s.sort();
        s.dedup();
        assert_eq!(inv, s);
    }

    #[test]
    fn orientations() {
        let files = ORIENT;
        for (i, f) in files.iter().enumerate() {
            assert_eq!(orientation(f), i as u8 + 1);
            assert_eq!(inventory(f), vec![Exif]);
        }
    }

    /// A JPEG with one APP1 EXIF segment holding `tiff`.
    fn jpeg_with_exif(tiff: &[u8]) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xE1];
        v.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
        v.extend_from_slice(b"Exif\0\0");
        v.extend_from_slice(tiff);
        v.extend_from_slice(&[0xFF, 0xD9]);
        v
    }

    fn tiff_one_entry(le: bool, tag: u16, ty: u16, value: u32) -> Vec<u8> {
        let mut t = Vec::new();
        let p16 = |v: u16| if le { v.to_le_bytes() } else { v.to_be_bytes() };
        let p32 = |v: u32| if le { v.to_le_bytes() } else { v.to_be_bytes() };
        t.extend_from_slice(if le { b"II" } else { b"MM" });
        t.extend_from_slice(&p16(42));
        t.extend_from_slice(&p32(8));
        t.extend_from_slice(&p16(1));
        t.extend_from_slice(&p16(tag));
        t.extend_from_slice(&p16(ty));
        t.extend_from_slice(&p32(1));
        if ty == 3 {
            t.extend_from_slice(&p16(value as u16));
            t.extend_from_slice(&[0, 0]);
        } else {
            t.extend_from_slice(&p32(value));
        }
        t.extend_from_slice(&p32(0));
        t
    }

    #[test]
    fn orientation_edge_cases() {
        for le in [true, false] {
            assert_eq!(orientation(&jpeg_with_exif(&tiff_one_entry(le, 0x0112, 3, 6))), 6);
            assert_eq!(orientation(&jpeg_with_exif(&tiff_one_entry(le, 0x0112, 3, 9))), 1);
            assert_eq!(orientation(&jpeg_with_exif(&tiff_one_entry(le, 0x0112, 3, 0))), 1);
            assert_eq!(orientation(&jpeg_with_exif(&tiff_one_entry(le, 0x0112, 4, 8))), 8);
        }
        assert_eq!(orientation(&jpeg_with_exif(b"garbage")), 1);
        assert_eq!(inventory(&jpeg_with_exif(b"garbage")), vec![Exif]);
        assert_eq!(orientation(b""), 1);
        assert_eq!(orientation(b"not an image at all"), 1);
    }

    #[test]
    fn gps_field_counts_and_pointer_alone_does_not() {
        // IFD0 (one entry: GPS IFD pointer -> 26), then a GPS IFD holding GPSLatitudeRef = "N".
        let mut t = tiff_one_entry(true, 0x8825, 4, 26);
        t.extend_from_slice(&1u16.to_le_bytes());
        t.extend_from_slice(&[0x01, 0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00, b'N', 0, 0, 0]);
        t.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(inventory(&jpeg_with_exif(&t)), vec![Exif, GpsLocation]);
        // A pointer to nowhere carries no location: only "EXIF present".
        let t = tiff_one_entry(true, 0x8825, 4, 0xFFFF_FF00);
        assert_eq!(inventory(&jpeg_with_exif(&t)), vec![Exif]);
    }

    #[test]
    fn exif_ifd_loops_terminate() {
        // IFD0 at 8 points at itself as Exif IFD, GPS IFD and next IFD.
        let mut t = b"II*\0\x08\0\0\0".to_vec();
        t.extend_from_slice(&2u16.to_le_bytes());
        for tag in [0x8769u16, 0x8825] {
            t.extend_from_slice(&tag.to_le_bytes());
            t.extend_from_slice(&4u16.to_le_bytes());
            t.extend_from_slice(&1u32.to_le_bytes());
            t.extend_from_slice(&8u32.to_le_bytes());
        }
        t.extend_from_slice(&8u32.to_le_bytes());
        // Terminates; the self-referencing "GPS IFD" holds no GPS tags.
        assert_eq!(inventory(&jpeg_with_exif(&t)), vec![Exif]);
    }

    #[test]
    fn truncations_and_garbage_never_panic() {
        for f in [META_JPG, META_PNG, META_WEBP, COMMENT_GIF] {
            let full = inventory(f);
            for cut in 0..f.len() {
                let inv = inventory(&f[..cut]);
                // A prefix never reveals more than the whole file.
                assert!(inv.iter().all(|k| full.contains(k)), "cut {cut}: {inv:?} vs {full:?}");
                let _ = orientation(&f[..cut]);
            }
            // Flip every byte in turn.
            let mut m = f.to_vec();
            for i in 0..m.len() {
                m[i] ^= 0xA5;
                let _ = inventory(&m);
                let _ = orientation(&m);
                m[i] ^= 0xA5;
            }
        }
        let noise = noise(1, 4096);
        for prefix in [&[0xFF, 0xD8, 0xFF][..], PNG_SIG, b"RIFF\0\0\0\0WEBP", b"GIF89a"] {
            let mut v = prefix.to_vec();
            v.extend_from_slice(&noise);
            let _ = inventory(&v);
            let _ = orientation(&v);
        }
    }
}
