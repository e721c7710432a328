//! Gives liblichtbild.so a versioned soname so programs bind to the ABI, not to a file name.

/// The ABI version in the soname (liblichtbild.so.N). Bump it on every incompatible change of
/// lichtbild.h (a struct field, a signature, an enum value). 1: lb_options grew the seal fields.
const ABI_VERSION: u32 = 1;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,liblichtbild.so.{ABI_VERSION}");
    }
    println!("cargo:rustc-env=LB_ABI_VERSION={ABI_VERSION}");
}
