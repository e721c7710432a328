//! Inventory of the metadata an input carries. Only the kinds are kept, never the values.
//! (HELPER C fills this in.)

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

/// Lists the kinds of metadata found in an encoded image (JPEG, PNG, WebP), sorted, deduplicated.
pub fn inventory(bytes: &[u8]) -> Vec<MetadataKind> {
    let _ = bytes;
    todo!("helper C")
}

/// EXIF orientation (1..=8), 1 when absent or malformed.
pub fn orientation(bytes: &[u8]) -> u8 {
    let _ = bytes;
    todo!("helper C")
}
