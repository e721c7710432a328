// Builds the libjpeg-turbo memory functions that wipe before freeing (src/privacy/jpeg_mem.c).
// Whole-archive: nothing references them before libturbojpeg.a is searched, so a plain static
// library would be skipped and the archive's malloc/free versions linked instead.
fn main() {
    println!("cargo:rerun-if-changed=src/privacy/jpeg_mem.c");
    cc::Build::new()
        .file("src/privacy/jpeg_mem.c")
        .flag_if_supported("-fvisibility=hidden")
        .warnings(true)
        .link_lib_modifier("+whole-archive")
        .compile("lichtbild_jmem");
}
