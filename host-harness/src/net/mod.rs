//! The host's own HTTP sender, used for every request a connector makes
//! once [`crate::outbound`] has let it through by name.
//!
//! wasmtime-wasi-http's default sender resolves and connects by itself, so
//! the policy could only ever see the host *name*. This one resolves the
//! name exactly once ([`resolve`]), checks every address against the policy
//! ([`crate::policy::OutboundPolicy::check_address`]; one refused address
//! refuses the request, before anything connects), and connects only to the
//! addresses it checked (`connect`), in the order the resolver gave them.
//! https goes through rustls with the webpki roots (`tls`), with the
//! request's host name as SNI; http is plain TCP. Requests are HTTP/1.1
//! (`http1`) and redirects are never followed.
//!
//! Connections are kept open between requests of one instance and used
//! again for the same scheme, host and port (`pool`, which says why that
//! is safe under the address policy); resolving and checking happen for
//! each new connection.
//!
//! Timeouts: resolving and the TCP connect share one deadline (the connect
//! timeout), the TLS and HTTP handshakes get the connect timeout again, the
//! response head the first-byte timeout, and each body chunk the
//! between-bytes timeout.

pub mod address;
pub(crate) mod connect;
pub(crate) mod http1;
pub mod pool;
pub mod resolve;
pub(crate) mod tls;

use std::io;
use std::net::SocketAddr;

use tokio::time::Instant;
use wasmtime_wasi_http::Error as HttpError;

pub use address::{AddressClass, IpNetwork};
pub use resolve::Resolver;

use crate::policy::{Denial, Destination, OutboundPolicy};

/// The future `WasiHttpHooks::send_request` returns beside a response, which
/// wasmtime-wasi-http runs while the response body is read (and aborts when
/// the body is dropped). Ours has nothing to do: each connection's driver
/// runs in a task of its own, since a kept connection outlives the request.
pub type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// Why a request was not sent after it passed the name check.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The policy refused an address the name resolved to.
    Denied(Denial),
    /// The name did not resolve.
    Failed(HttpError),
}

/// Resolves `dest` once (an IP literal is its own address) before
/// `deadline`, and checks every address. The addresses come back in the
/// resolver's order; they are the only ones the request may connect to.
pub(crate) async fn resolve_checked(
    policy: &OutboundPolicy,
    dest: &Destination,
    deadline: Instant,
) -> Result<Vec<SocketAddr>, Refused> {
    let addrs = match dest.ip() {
        Some(ip) => vec![SocketAddr::new(ip, dest.port())],
        None => {
            let lookup = policy.resolver.resolve(dest.host(), dest.port());
            match tokio::time::timeout_at(deadline, lookup).await {
                Ok(Ok(addrs)) => addrs,
                Ok(Err(e)) => return Err(Refused::Failed(dns_error(&e))),
                Err(_) => return Err(Refused::Failed(HttpError::DnsTimeout)),
            }
        }
    };
    for addr in &addrs {
        policy
            .check_address(dest, addr.ip())
            .map_err(Refused::Denied)?;
    }
    Ok(addrs)
}

/// A name that does not resolve, as wasi-http reports it for the default
/// sender (whose lookup errors become this same `DnsError`).
fn dns_error(_: &io::Error) -> HttpError {
    HttpError::DnsError {
        rcode: Some("address not available".to_string()),
        info_code: None,
    }
}
