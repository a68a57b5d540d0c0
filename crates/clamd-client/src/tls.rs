//! TLS to clamd (clamd itself speaks plain TCP; a TLS terminator such as stunnel or HAProxy sits
//! in front of it). rustls with the ring provider passed explicitly. Handshake and certificate
//! failures carry the code Node's own `tls` gives for the same server.

use std::fmt;
use std::io;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::error::ClamError;

/// What the caller gave: PEM texts (as Node's `tls` takes them) and the checks to make.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
  /// Trusted CA certificates (PEM); the system's roots when absent.
  pub ca: Option<Vec<u8>>,
  /// The client certificate chain (PEM), for mutual TLS.
  pub cert: Option<Vec<u8>>,
  /// The client certificate's private key (PEM).
  pub key: Option<Vec<u8>>,
  /// The name to verify the certificate against (and to send as SNI); the host by default.
  pub servername: Option<String>,
  /// `false`: accept any certificate (the connection is still encrypted). Default `true`.
  pub reject_unauthorized: bool,
}

/// A ready TLS configuration for one endpoint. Compared by identity: an endpoint's identity is
/// its address, and two endpoints with the same address share one configuration.
#[derive(Clone)]
pub struct TlsSettings {
  config: Arc<rustls::ClientConfig>,
  servername: Option<String>,
}

impl fmt::Debug for TlsSettings {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.debug_struct("TlsSettings")
      .field("servername", &self.servername)
      .finish_non_exhaustive()
  }
}

impl PartialEq for TlsSettings {
  fn eq(&self, other: &Self) -> bool {
    Arc::ptr_eq(&self.config, &other.config)
  }
}
impl Eq for TlsSettings {}
impl std::hash::Hash for TlsSettings {
  fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
    (Arc::as_ptr(&self.config) as usize).hash(state)
  }
}

/// ring, passed explicitly: no default-provider lookup, no OpenSSL, no aws-lc (the prebuilt
/// binaries cross-compile with a plain C toolchain). rustls marks it deprecated only because it
/// lacks post-quantum key exchange.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
  Arc::new(ring::default_provider())
}

fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
  let certs = CertificateDer::pem_slice_iter(pem)
    .collect::<Result<Vec<_>, _>>()
    .map_err(|e| format!("tls.{what}: not PEM certificates ({e})"))?;
  if certs.is_empty() {
    return Err(format!("tls.{what}: no PEM certificate found"));
  }
  Ok(certs)
}

/// The system's trust roots (on Linux `SSL_CERT_FILE`/`SSL_CERT_DIR` are honoured).
fn system_roots() -> RootCertStore {
  let mut roots = RootCertStore::empty();
  for cert in rustls_native_certs::load_native_certs().certs {
    let _ = roots.add(cert);
  }
  roots
}

impl TlsSettings {
  /// Builds the configuration; an option that cannot be used is an error message for the caller.
  /// These settings for an address discovered under `name`: the certificate is checked against
  /// the name (unless `servername` says otherwise), not against the address.
  pub fn for_name(&self, name: &str) -> TlsSettings {
    TlsSettings {
      config: self.config.clone(),
      servername: Some(self.servername.clone().unwrap_or_else(|| name.to_string())),
    }
  }

  pub fn new(options: TlsOptions) -> Result<TlsSettings, String> {
    let roots = match &options.ca {
      Some(pem) => {
        let mut roots = RootCertStore::empty();
        for cert in certificates(pem, "ca")? {
          roots.add(cert).map_err(|e| format!("tls.ca: {e}"))?;
        }
        roots
      }
      None => system_roots(),
    };
    let verifier: Arc<dyn ServerCertVerifier> = if options.reject_unauthorized {
      let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| format!("tls.ca: {e}"))?;
      Arc::new(NodeLikeVerifier { inner })
    } else {
      Arc::new(AcceptAny(provider()))
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider())
      .with_safe_default_protocol_versions()
      .map_err(|e| e.to_string())?
      .dangerous()
      .with_custom_certificate_verifier(verifier);
    let config = match (&options.cert, &options.key) {
      (Some(cert), Some(key)) => {
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("tls.key: not a PEM private key ({e})"))?;
        builder
          .with_client_auth_cert(certificates(cert, "cert")?, key)
          .map_err(|e| format!("tls.cert/tls.key: {e}"))?
      }
      (None, None) => builder.with_no_client_auth(),
      _ => return Err("tls.cert and tls.key go together".into()),
    };
    Ok(TlsSettings {
      config: Arc::new(config),
      servername: options.servername,
    })
  }

  /// The TLS handshake over `tcp` to `host`: Node's error codes on failure.
  pub async fn handshake(&self, tcp: TcpStream, host: &str, port: u16) -> Result<TlsStream<TcpStream>, ClamError> {
    let name = self.servername.as_deref().unwrap_or(host);
    let server_name = ServerName::try_from(name.to_string()).map_err(|_| ClamError::Tls {
      code: "ERR_TLS_CERT_ALTNAME_INVALID".into(),
      message: format!("Hostname/IP does not match certificate's altnames: {name:?} is not a valid server name"),
      address: host.to_string(),
      port,
    })?;
    TlsConnector::from(self.config.clone())
      .connect(server_name, tcp)
      .await
      .map_err(|err| {
        tls_error(&err, host, port)
          .unwrap_or_else(|| ClamError::socket(&err, crate::error::Op::Connect, host, Some(port)))
      })
  }
}

/// Node's code and message for a TLS failure carried in an I/O error (a handshake, or an alert
/// the server sends after it, as a TLS 1.3 server refusing a client certificate does); None when
/// the error is a plain socket error.
pub fn tls_error(err: &io::Error, host: &str, port: u16) -> Option<ClamError> {
  let tls = err.get_ref()?.downcast_ref::<rustls::Error>()?;
  let (code, message): (String, String) = match tls {
    rustls::Error::InvalidCertificate(cert) => {
      let (code, message) = certificate_code(cert, host);
      (code.into(), message)
    }
    rustls::Error::AlertReceived(alert) => {
      let name = format!("{alert:?}");
      let snake = snake_upper(&name);
      let code = match alert {
        rustls::AlertDescription::CertificateRequired => "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED".to_string(),
        rustls::AlertDescription::HandshakeFailure => "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE".to_string(),
        _ => format!("ERR_SSL_TLSV1_ALERT_{snake}"),
      };
      (
        code,
        format!(
          "the TLS server refused the connection: alert {}",
          snake.to_lowercase().replace('_', " ")
        ),
      )
    }
    // A reply that is no TLS record: the port speaks plain text (clamd itself).
    rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => (
      "ERR_SSL_WRONG_VERSION_NUMBER".into(),
      "wrong version number: the server does not speak TLS".into(),
    ),
    rustls::Error::PeerIncompatible(_) => ("ERR_SSL_UNSUPPORTED_PROTOCOL".into(), tls.to_string()),
    other => ("ERR_SSL_PROTOCOL_ERROR".into(), other.to_string()),
  };
  Some(ClamError::Tls {
    code,
    message,
    address: host.to_string(),
    port,
  })
}

/// `UnknownCA` → `UNKNOWN_CA`, `CertificateRequired` → `CERTIFICATE_REQUIRED` (OpenSSL's alert names).
fn snake_upper(camel: &str) -> String {
  let mut out = String::new();
  let mut previous_lower = false;
  for ch in camel.chars() {
    if ch.is_uppercase() && previous_lower {
      out.push('_');
    }
    previous_lower = ch.is_lowercase();
    out.push(ch.to_ascii_uppercase());
  }
  out
}

/// A self-signed leaf: rustls reports it as an unknown issuer, so the verifier tells it apart.
#[derive(Debug)]
struct SelfSignedLeaf;
impl fmt::Display for SelfSignedLeaf {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str("self-signed certificate")
  }
}
impl std::error::Error for SelfSignedLeaf {}

/// Node's (OpenSSL's) code and message for a certificate that does not verify.
fn certificate_code(err: &CertificateError, host: &str) -> (&'static str, String) {
  match err {
    CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => (
      "ERR_TLS_CERT_ALTNAME_INVALID",
      format!("Hostname/IP does not match certificate's altnames: Host: {host}. is not in the cert's altnames"),
    ),
    CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
      ("CERT_HAS_EXPIRED", "certificate has expired".into())
    }
    CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
      ("CERT_NOT_YET_VALID", "certificate is not yet valid".into())
    }
    CertificateError::Revoked => ("CERT_REVOKED", "certificate revoked".into()),
    CertificateError::BadSignature => ("CERT_SIGNATURE_FAILURE", "certificate signature failure".into()),
    CertificateError::Other(other) if other.to_string() == SelfSignedLeaf.to_string() => {
      ("DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate".into())
    }
    CertificateError::UnknownIssuer => (
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      "unable to verify the first certificate".into(),
    ),
    _ => (
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      format!("unable to verify the certificate: {err}"),
    ),
  }
}

/// WebPKI verification, with a self-signed leaf told apart from a leaf of an unknown CA (both are
/// "unknown issuer" to webpki; Node names them differently).
#[derive(Debug)]
struct NodeLikeVerifier {
  inner: Arc<WebPkiServerVerifier>,
}

/// Whether the leaf names itself as its issuer (OpenSSL's "self-signed certificate" at depth 0).
fn self_issued(end_entity: &CertificateDer<'_>) -> bool {
  webpki::EndEntityCert::try_from(end_entity).is_ok_and(|cert| cert.issuer() == cert.subject())
}

impl ServerCertVerifier for NodeLikeVerifier {
  fn verify_server_cert(
    &self,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    server_name: &ServerName<'_>,
    ocsp_response: &[u8],
    now: UnixTime,
  ) -> Result<ServerCertVerified, rustls::Error> {
    match self
      .inner
      .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    {
      // A self-signed leaf that is not trusted: webpki says unknown issuer (or, for one marked as
      // a CA, that a CA is used as an end entity); OpenSSL says self-signed.
      Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::Other(_)))
        if intermediates.is_empty() && self_issued(end_entity) =>
      {
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
          rustls::OtherError(Arc::new(SelfSignedLeaf)),
        )))
      }
      other => other,
    }
  }

  fn verify_tls12_signature(
    &self,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
  ) -> Result<HandshakeSignatureValid, rustls::Error> {
    self.inner.verify_tls12_signature(message, cert, dss)
  }

  fn verify_tls13_signature(
    &self,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
  ) -> Result<HandshakeSignatureValid, rustls::Error> {
    self.inner.verify_tls13_signature(message, cert, dss)
  }

  fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
    self.inner.supported_verify_schemes()
  }
}

/// `rejectUnauthorized: false`: any certificate is accepted; the handshake's signatures are still
/// checked, so the connection is encrypted to whoever holds the certificate's key.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
  fn verify_server_cert(
    &self,
    _end_entity: &CertificateDer<'_>,
    _intermediates: &[CertificateDer<'_>],
    _server_name: &ServerName<'_>,
    _ocsp_response: &[u8],
    _now: UnixTime,
  ) -> Result<ServerCertVerified, rustls::Error> {
    Ok(ServerCertVerified::assertion())
  }

  fn verify_tls12_signature(
    &self,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
  ) -> Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
  }

  fn verify_tls13_signature(
    &self,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
  ) -> Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
  }

  fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
    self.0.signature_verification_algorithms.supported_schemes()
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn certificate_failures_carry_node_codes() {
    let code = |e: CertificateError| certificate_code(&e, "clamav").0;
    assert_eq!(code(CertificateError::NotValidForName), "ERR_TLS_CERT_ALTNAME_INVALID");
    assert_eq!(code(CertificateError::Expired), "CERT_HAS_EXPIRED");
    assert_eq!(code(CertificateError::UnknownIssuer), "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    assert_eq!(
      code(CertificateError::Other(rustls::OtherError(Arc::new(SelfSignedLeaf)))),
      "DEPTH_ZERO_SELF_SIGNED_CERT"
    );
  }

  #[test]
  fn alerts_and_plaintext_replies_carry_node_codes() {
    let io = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, e);
    let code = |e: rustls::Error| tls_error(&io(e), "h", 1).map(|e| e.code().to_string());
    assert_eq!(
      code(rustls::Error::AlertReceived(
        rustls::AlertDescription::CertificateRequired
      ))
      .as_deref(),
      Some("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED")
    );
    assert_eq!(
      code(rustls::Error::AlertReceived(rustls::AlertDescription::UnknownCA)).as_deref(),
      Some("ERR_SSL_TLSV1_ALERT_UNKNOWN_CA")
    );
    assert_eq!(
      code(rustls::Error::InvalidMessage(
        rustls::InvalidMessage::InvalidContentType
      ))
      .as_deref(),
      Some("ERR_SSL_WRONG_VERSION_NUMBER")
    );
    // A plain socket error is no TLS error.
    assert!(tls_error(&io::Error::from(io::ErrorKind::ConnectionReset), "h", 1).is_none());
  }

  #[test]
  fn options_that_cannot_be_used_are_refused() {
    let bad_ca = TlsSettings::new(TlsOptions {
      ca: Some(b"not pem".to_vec()),
      reject_unauthorized: true,
      ..TlsOptions::default()
    });
    assert!(bad_ca.unwrap_err().contains("tls.ca"));
    let half = TlsSettings::new(TlsOptions {
      cert: Some(b"x".to_vec()),
      reject_unauthorized: true,
      ..TlsOptions::default()
    });
    assert_eq!(half.unwrap_err(), "tls.cert and tls.key go together");
  }
}
