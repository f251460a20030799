//! `generate` for 100 connectors (10 vendors × 10 nodes, every value type).
#![allow(missing_docs, clippy::unwrap_used, reason = "benchmark")]

use std::collections::BTreeSet;

use criterion::{Criterion, criterion_group, criterion_main};
use lf_lockfile::{
    Algorithm, BlobRef, Digest, LockedConnector, RuntimeDependency, SignatureEntry, SignatureMode,
};
use lf_runtime::spec::ConnectorManifest;
use lf_wrapper_gen::{Input, generate};

fn digest(seed: usize) -> Digest {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&(seed as u64).to_le_bytes());
    Digest::from_bytes(Algorithm::Sha256, &bytes)
}

fn connectors() -> Vec<(LockedConnector, ConnectorManifest)> {
    (0..100)
        .map(|i| {
            let yaml = format!(
                "id: connector.vendor{}.group.node{i}\ninputs:\n  - name: text\n    type: string\n  - name: items\n    type: list<optional<int>>\n  - name: raw\n    type: bytes\noutputs:\n  - name: result\n    type: json\n  - name: score\n    type: float\n  - name: ok\n    type: bool\neffects: []\ndeterministic: true\ncapabilities: []\n",
                i % 10
            );
            let manifest = ConnectorManifest::from_yaml(&yaml).unwrap();
            let locked = LockedConnector {
                name: format!("node{i}").parse().unwrap(),
                id: manifest.id().clone(),
                reference: format!("registry.example.com/bench/node{i}:1.0").parse().unwrap(),
                digest: digest(i),
                module: BlobRef { digest: digest(1000 + i), size: 1024 },
                config: BlobRef { digest: digest(2000 + i), size: 120 },
                capabilities: BTreeSet::new(),
                grants: BTreeSet::new(),
                hosts: BTreeSet::new(),
                deterministic: true,
                abi: Default::default(),
                sandboxed: BTreeSet::new(),
                signature: SignatureEntry { policy: SignatureMode::None, verified: None },
                certification: Default::default(),
                spec: None,
            };
            (locked, manifest)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let owned = connectors();
    c.bench_function("generate/100_connectors", |b| {
        b.iter(|| {
            let input = Input {
                connectors: owned.iter().map(|(l, m)| (l, m.clone())).collect(),
                module_path: Box::new(|d: &Digest| format!("../../oci/blobs/sha256/{}", d.hex())),
                runtime: RuntimeDependency::Version("0.1".to_owned()),
            };
            generate(&input).unwrap()
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
