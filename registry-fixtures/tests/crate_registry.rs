//! The crate registry launcher: a real ferro-cargo-registry-server on
//! 127.0.0.1 that answers once started and is gone once dropped. Without the
//! server this fails under CI (`CI=true`) and skips locally, saying why.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::net::TcpStream;
use std::time::Duration;

use lf_registry_fixtures::{CrateRegistry, crate_registry_binary};

#[test]
fn starts_on_loopback_serves_an_empty_index_and_dies_on_drop() {
    if let Err(e) = crate_registry_binary() {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "CI=true and the crate registry is missing: {e}"
        );
        eprintln!("skipped: {e}");
        return;
    }
    let registry = CrateRegistry::start().unwrap();
    let addr = registry.addr();
    assert!(addr.ip().is_loopback());
    assert_eq!(registry.index_url(), format!("sparse+http://{addr}/"));
    assert!(
        registry
            .cargo_config("lftest")
            .contains(&registry.index_url())
    );
    assert_eq!(registry.index_file("lf-runtime"), None);
    assert!(registry.data_dir().starts_with(std::env::temp_dir()));
    drop(registry);
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(),
        "still listening on {addr} after drop"
    );
}
