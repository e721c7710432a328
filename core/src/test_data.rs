//! Test inputs shared by the unit tests: the public-domain fixtures and the synthetic files made
//! by `core/tests/data/make_test_data.py`.

pub const GRACE: &[u8] = include_bytes!("../../tests/fixtures/grace_hopper.jpg");
pub const ASTRONAUT: &[u8] = include_bytes!("../../tests/fixtures/astronaut.png");
pub const META_JPG: &[u8] = include_bytes!("../tests/data/meta_full.jpg");
pub const META_PNG: &[u8] = include_bytes!("../tests/data/meta_full.png");
pub const META_WEBP: &[u8] = include_bytes!("../tests/data/meta_full.webp");
pub const CMYK_JPG: &[u8] = include_bytes!("../tests/data/cmyk.jpg");
pub const YCCK_JPG: &[u8] = include_bytes!("../tests/data/ycck.jpg");
pub const ANIM_WEBP: &[u8] = include_bytes!("../tests/data/anim.webp");
pub const COMMENT_GIF: &[u8] = include_bytes!("../tests/data/comment.gif");
pub const PROGRESSIVE: &[u8] = include_bytes!("../tests/data/progressive.jpg");
/// `orient_N.jpg` carries EXIF orientation N (index N - 1).
pub const ORIENT: [&[u8]; 8] = [
    include_bytes!("../tests/data/orient_1.jpg"),
    include_bytes!("../tests/data/orient_2.jpg"),
    include_bytes!("../tests/data/orient_3.jpg"),
    include_bytes!("../tests/data/orient_4.jpg"),
    include_bytes!("../tests/data/orient_5.jpg"),
    include_bytes!("../tests/data/orient_6.jpg"),
    include_bytes!("../tests/data/orient_7.jpg"),
    include_bytes!("../tests/data/orient_8.jpg"),
];

/// Deterministic pseudo-random bytes (xorshift32) for garbage-input tests.
pub fn noise(seed: u32, n: usize) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}
