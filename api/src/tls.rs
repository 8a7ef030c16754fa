//! Mutual TLS with identities rooted in genesis, not in a web PKI (DESIGN.md decision 10).
//!
//! Every party of a ledger already holds an ed25519 key named in genesis: each insurer's
//! node key, and the signing keys of insurers, regulators and the ministry. A TLS
//! certificate here is nothing but a carrier for such a key: [`Identity`] makes a
//! self-signed X.509 certificate for a secret key (rcgen), and a peer is accepted when the
//! public key *inside* its certificate is one of the keys we trust ([`Trust`]), and the TLS
//! 1.3 handshake signature (CertificateVerify) proves it holds the secret. Names, issuers,
//! dates and self-signatures of certificates play no part: the key is the identity.
//!
//! Why these crates: rustls (memory-safe, TLS 1.3, custom verifiers are a supported API) on
//! its `ring` provider (no C toolchain or cmake, unlike aws-lc-rs), tokio-rustls to run it
//! on tokio sockets, rcgen to write the certificate, rustls-webpki (already under rustls) to
//! read the key out of a certificate exactly as rustls' own signature check reads it.
//!
//! Only TLS 1.3 and only Ed25519 are offered: there is nothing to negotiate down to.

use std::collections::BTreeMap;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// The SubjectPublicKeyInfo of an Ed25519 key, minus the key (RFC 8410): SEQUENCE {
/// SEQUENCE { OID 1.3.101.112 }, BIT STRING (33 bytes: no unused bits, then the key) }.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
/// A PKCS#8 v1 `PrivateKeyInfo` of an Ed25519 key, minus the 32-byte seed (RFC 8410).
const ED25519_PKCS8_PREFIX: [u8; 16] = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/// The name a client asks for in TLS (SNI). Servers are identified by their key, not by a
/// name, so every fairshare certificate carries this one name (and `localhost`, so that
/// standard tools that check names accept a devnet node).
pub const SERVER_NAME: &str = "fairshare";

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot make a TLS certificate for the key: {0}")]
    Certificate(String),
    #[error("cannot configure TLS: {0}")]
    Config(#[from] rustls::Error),
}

/// A party's TLS identity: its genesis key, and the self-signed certificate that carries it.
pub struct Identity {
    public_key: [u8; 32],
    certificate: CertificateDer<'static>,
    certificate_pem: String,
    private_key: PrivatePkcs8KeyDer<'static>,
    private_key_pem: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Identity").field("public_key", &hex(&self.public_key)).finish_non_exhaustive()
    }
}

impl Identity {
    /// The identity of `key`: a certificate for its public key, self-signed with it.
    pub fn new(key: &SigningKey) -> Result<Identity, TlsError> {
        let mut pkcs8 = ED25519_PKCS8_PREFIX.to_vec();
        pkcs8.extend_from_slice(key.as_bytes());
        let private_key = PrivatePkcs8KeyDer::from(pkcs8);
        let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&private_key, &rcgen::PKCS_ED25519)
            .map_err(|error| TlsError::Certificate(error.to_string()))?;
        let mut params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_string(), "localhost".to_string()])
            .map_err(|error| TlsError::Certificate(error.to_string()))?;
        params.subject_alt_names.push(rcgen::SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        params.distinguished_name.push(rcgen::DnType::CommonName, format!("fairshare {}", hex(key.verifying_key().as_bytes())));
        // Deterministic (serial from the key, rcgen's fixed validity, deterministic ed25519
        // signatures): the certificate `fairshare devnet` writes for a standard tool to pin is
        // byte for byte the one the node presents.
        let mut serial = key.verifying_key().to_bytes()[..16].to_vec();
        serial[0] &= 0x7f;
        serial[0] |= 0x01;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let certificate = params.self_signed(&pair).map_err(|error| TlsError::Certificate(error.to_string()))?;
        Ok(Identity {
            public_key: key.verifying_key().to_bytes(),
            certificate_pem: certificate.pem(),
            certificate: certificate.der().clone(),
            private_key,
            private_key_pem: pair.serialize_pem(),
        })
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// The certificate in PEM, for standard tools (`grpcurl -cert`).
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The secret key in PKCS#8 PEM, for standard tools (`grpcurl -key`). Secret.
    pub fn private_key_pem(&self) -> &str {
        &self.private_key_pem
    }

    fn chain(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (vec![self.certificate.clone()], PrivateKeyDer::Pkcs8(self.private_key.clone_key()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The Ed25519 public key a certificate carries, read as rustls' signature check reads it;
/// `None` if the certificate is malformed or carries any other kind of key.
pub fn certificate_key(certificate: &CertificateDer<'_>) -> Option<[u8; 32]> {
    let parsed = webpki::EndEntityCert::try_from(certificate).ok()?;
    let spki = parsed.subject_public_key_info();
    let key = spki.as_ref().strip_prefix(ED25519_SPKI_PREFIX.as_slice())?;
    key.try_into().ok()
}

/// The keys a party accepts at the other end of a connection, each with a name for logs
/// and errors (e.g. "node cz", "regulator nza").
#[derive(Debug, Clone, Default)]
pub struct Trust {
    keys: BTreeMap<[u8; 32], String>,
}

impl Trust {
    pub fn new(keys: impl IntoIterator<Item = ([u8; 32], String)>) -> Trust {
        Trust { keys: keys.into_iter().collect() }
    }

    /// Who holds `key`, if we trust it.
    pub fn name(&self, key: &[u8; 32]) -> Option<&str> {
        self.keys.get(key).map(String::as_str)
    }

    fn check(&self, certificate: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        let key = certificate_key(certificate).ok_or(rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if self.keys.contains_key(&key) {
            Ok(())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure))
        }
    }
}

/// The genesis node keys: what a client (or a peer) accepts at the other end.
pub fn node_trust(genesis: &fairshare_protocol::Genesis) -> Trust {
    Trust::new(genesis.insurers.iter().filter_map(|insurer| Some((insurer.node_key?.to_bytes(), format!("node {}", insurer.id)))))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Checks the key in the peer's certificate against a [`Trust`] (or, with `None`, only that
/// it is an Ed25519 key), and the handshake signature against that key; nothing else about
/// the certificate matters.
#[derive(Debug)]
struct GenesisVerifier {
    trust: Option<Trust>,
    provider: Arc<CryptoProvider>,
    /// Servers: whether a client without a certificate may connect (it then reaches only
    /// what needs no identity, i.e. health).
    client_optional: bool,
}

impl GenesisVerifier {
    fn check(&self, certificate: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        match &self.trust {
            Some(trust) => trust.check(certificate),
            None => certificate_key(certificate).map(|_| ()).ok_or(rustls::Error::InvalidCertificate(CertificateError::BadEncoding)),
        }
    }
    fn signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, certificate, dss, &self.provider.signature_verification_algorithms)
    }
}

impl ServerCertVerifier for GenesisVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity).map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not offered".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(message, certificate, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ClientCertVerifier for GenesisVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        !self.client_optional
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity).map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not offered".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(message, certificate, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

const ALPN_H2: &[u8] = b"h2";

/// A server's TLS: it presents `identity` and accepts a client certificate for any Ed25519
/// key, proven by the handshake; a client without a certificate still connects. Who may do
/// what is the services' decision (the node's interceptors), since read identities are
/// registered on the ledger after the server started.
pub fn server_config(identity: &Identity) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = provider();
    let verifier = Arc::new(GenesisVerifier { trust: None, provider: provider.clone(), client_optional: true });
    let (chain, key) = identity.chain();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// A client's TLS without a certificate: it reaches a node's health service and nothing
/// else (monitoring probes).
pub fn anonymous_client_config(servers: Trust) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let provider = provider();
    let verifier = Arc::new(GenesisVerifier { trust: Some(servers), provider: provider.clone(), client_optional: false });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// A client's TLS: it presents `identity` and accepts a server only if `servers` trusts
/// the key in its certificate.
pub fn client_config(identity: &Identity, servers: Trust) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let provider = provider();
    let verifier = Arc::new(GenesisVerifier { trust: Some(servers), provider: provider.clone(), client_optional: false });
    let (chain, key) = identity.chain();
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(chain, key)?;
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(&[byte; 32])
    }

    #[test]
    fn a_certificate_carries_exactly_its_key() {
        let identity = Identity::new(&key(7)).unwrap();
        assert_eq!(certificate_key(&identity.certificate), Some(key(7).verifying_key().to_bytes()));
        assert!(identity.certificate_pem().starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(identity.private_key_pem().starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(certificate_key(&CertificateDer::from(b"not a certificate".to_vec())), None);
        assert_eq!(Identity::new(&key(7)).unwrap().certificate, identity.certificate, "the same key makes the same certificate");
    }

    #[test]
    fn trust_is_by_key_only() {
        let trusted = Identity::new(&key(1)).unwrap();
        let stranger = Identity::new(&key(2)).unwrap();
        let trust = Trust::new([(trusted.public_key(), "node cz".to_string())]);
        assert!(trust.check(&trusted.certificate).is_ok());
        assert!(trust.check(&stranger.certificate).is_err());
        assert_eq!(trust.name(&trusted.public_key()), Some("node cz"));
    }
}
