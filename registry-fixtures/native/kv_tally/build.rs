//! Generates the node's typed items from `connector.yaml` into `OUT_DIR`; a
//! malformed manifest stops the build with `connector.yaml:LINE:COL`.

fn main() {
    lf_wrapper_gen::native::build_script();
}
