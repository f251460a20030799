//! Throwaway TLS material for a registry on loopback
//! ([`crate::RegistryBuilder::tls`]).
//!
//! Every TLS registry gets its own CA (ECDSA P-256, made with `rcgen`) and a
//! server certificate issued by it for the IP addresses `127.0.0.1` and `::1`
//! and the DNS name `localhost`. The files are written into the registry's
//! temporary directory:
//!
//! - `tls/ca.pem`: the CA certificate ([`crate::Registry::ca_file`],
//!   [`crate::Registry::ca_pem`]): what a client must trust;
//! - `tls/server.pem`, `tls/server-key.pem` (PKCS#8): distribution's
//!   `http.tls.certificate` and `http.tls.key`.
//!
//! Nothing in the system trust store knows the CA, so a client that does not
//! add it fails with an unknown-issuer certificate error.
//!
//! Readiness: a TLS registry answers a plain-HTTP request with `400` ("client
//! sent an HTTP request to an HTTPS server"), which would prove little, so
//! the readiness probe speaks TLS (rustls, trusting only this CA) and sends `GET /v2/`
//! through it. A registry that starts then proves its certificate verifies
//! for `127.0.0.1`.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, ServerName};

use crate::{Error, io_error};

/// Subject common name of the generated CA.
pub const CA_COMMON_NAME: &str = "lf-registry-fixtures test CA";

/// The generated CA and the files distribution reads.
#[derive(Debug)]
pub(crate) struct TlsFiles {
    /// The CA certificate, PEM.
    pub(crate) ca_pem: String,
    /// Where [`TlsFiles::ca_pem`] is written.
    pub(crate) ca_path: PathBuf,
    /// Server certificate (PEM), for `http.tls.certificate`.
    pub(crate) cert_path: PathBuf,
    /// Server key (PKCS#8 PEM), for `http.tls.key`.
    pub(crate) key_path: PathBuf,
    /// Client config of the readiness probe: trusts only the CA.
    probe_config: Arc<rustls::ClientConfig>,
}

impl TlsFiles {
    /// Generates a CA and a server certificate and writes them under
    /// `dir/tls/`.
    pub(crate) fn generate(dir: &Path) -> Result<TlsFiles, Error> {
        let tls_dir = dir.join("tls");
        std::fs::create_dir_all(&tls_dir)
            .map_err(io_error(format!("cannot create {}", tls_dir.display())))?;

        let ca_key = KeyPair::generate().map_err(crypto_error("generate the CA key"))?;
        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, CA_COMMON_NAME);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .map_err(crypto_error("self-sign the CA certificate"))?;
        let ca = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().map_err(crypto_error("generate the server key"))?;
        let mut server_params = CertificateParams::new(vec![
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "localhost".to_owned(),
        ])
        .map_err(crypto_error("build the server certificate"))?;
        server_params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        server_params.is_ca = IsCa::ExplicitNoCa;
        server_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params
            .signed_by(&server_key, &ca)
            .map_err(crypto_error("issue the server certificate"))?;

        let ca_pem = ca_cert.pem();
        let ca_path = tls_dir.join("ca.pem");
        let cert_path = tls_dir.join("server.pem");
        let key_path = tls_dir.join("server-key.pem");
        for (path, contents) in [
            (&ca_path, ca_pem.clone()),
            (&cert_path, server_cert.pem()),
            (&key_path, server_key.serialize_pem()),
        ] {
            std::fs::write(path, contents)
                .map_err(io_error(format!("cannot write {}", path.display())))?;
        }

        let probe_config = probe_config(ca_cert.der().clone())?;
        Ok(TlsFiles {
            ca_pem,
            ca_path,
            cert_path,
            key_path,
            probe_config,
        })
    }

    /// `GET /v2/` over TLS to `addr`, verifying the server certificate for
    /// its IP address against the CA; returns the HTTP status.
    pub(crate) fn probe(&self, addr: SocketAddr) -> io::Result<u16> {
        let timeout = Duration::from_secs(1);
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let name = ServerName::IpAddress(addr.ip().into());
        let connection = rustls::ClientConnection::new(Arc::clone(&self.probe_config), name)
            .map_err(io::Error::other)?;
        crate::http_status(rustls::StreamOwned::new(connection, stream), addr)
    }
}

/// A rustls client config (aws-lc-rs, as reqwest uses) trusting only `ca`.
fn probe_config(ca: CertificateDer<'static>) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(ca)
        .map_err(crypto_error("add the CA to the probe's roots"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(crypto_error("configure the TLS probe"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Maps a key, certificate or TLS setup error to [`Error::Crypto`].
pub(crate) fn crypto_error<E: std::fmt::Display>(context: &'static str) -> impl FnOnce(E) -> Error {
    move |error| Error::Crypto {
        context,
        detail: error.to_string(),
    }
}
