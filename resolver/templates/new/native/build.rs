//! Generates the node's typed items from connector.yaml into OUT_DIR (see
//! src/lib.rs). A malformed connector.yaml stops the build with
//! `connector.yaml:LINE:COL` and the offending line.

fn main() {
    lf_wrapper_gen::native::build_script();
}
