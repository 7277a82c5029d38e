//! TLS for https requests: rustls (ring) trusting the Mozilla roots shipped
//! in webpki-roots, never the machine's certificate store, so what a
//! connector can reach does not depend on the host it runs on.
//!
//! The certificate is verified against the request's host name, which is
//! also sent as SNI: the sender connects to an address it resolved itself,
//! but the server must still prove it is the host the guest named.

use std::io;
use std::sync::{Arc, OnceLock};

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use wasmtime_wasi_http::Error as HttpError;

/// The client configuration, built once: the root store is large and the
/// session cache is worth sharing.
fn config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            // The provider is named rather than taken from the process
            // default, which panics when a build enables both ring and aws-lc.
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// The name the certificate must carry: the host name, or for an IP literal
/// the address (rustls then sends no SNI, as the TLS spec asks).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, HttpError> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(ServerName::from(ip));
    }
    Ok(ServerName::try_from(host.to_string())?)
}

/// Runs the TLS handshake over `tcp` for `host`.
pub(crate) async fn handshake(
    tcp: TcpStream,
    host: &str,
) -> Result<TlsStream<TcpStream>, HttpError> {
    let name = server_name(host)?;
    TlsConnector::from(config())
        .connect(name, tcp)
        .await
        .map_err(|e| error(&e))
}

/// The wasi-http error for a failed handshake: a certificate the roots do
/// not vouch for, an alert from the server, or anything else as a protocol
/// error.
pub(crate) fn error(err: &io::Error) -> HttpError {
    match err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(_)) => HttpError::TlsCertificateError,
        Some(rustls::Error::AlertReceived(alert)) => HttpError::TlsAlertReceived {
            alert_id: Some(u8::from(*alert)),
            alert_message: Some(format!("{alert:?}")),
        },
        _ => HttpError::TlsProtocolError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_hosts_and_addresses() {
        assert_eq!(
            server_name("circleci.com").unwrap(),
            ServerName::try_from("circleci.com").unwrap()
        );
        assert!(matches!(
            server_name("::1").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("bad name"),
            Err(HttpError::InvalidDnsNameError(_))
        ));
    }

    #[test]
    fn maps_handshake_errors() {
        let cert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(matches!(error(&cert), HttpError::TlsCertificateError));
        let alert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
        );
        assert!(matches!(
            error(&alert),
            HttpError::TlsAlertReceived {
                alert_id: Some(40),
                ..
            }
        ));
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert!(matches!(error(&eof), HttpError::TlsProtocolError));
    }

    #[test]
    fn the_config_trusts_the_webpki_roots() {
        let config = config();
        assert!(Arc::ptr_eq(&config, &super::config()), "built once");
    }
}
