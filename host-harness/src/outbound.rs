//! The gate every outgoing wasi:http request passes.
//!
//! wasmtime-wasi-http hands each request the guest makes to
//! [`WasiHttpHooks::send_request`]; ours checks it against the operator's
//! [`OutboundPolicy`] and either refuses it with `HttpRequestDenied` (it
//! never leaves the process) or sends it with the host's timeouts, whatever
//! the guest asked for. Redirects are never followed here: a 3xx goes back to
//! the guest as it is.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::policy::{Denial, OutboundPolicy};

/// What one instance's requests did, for reports and tests.
#[derive(Debug, Default, Clone)]
pub struct OutboundLog {
    /// Requests that passed the policy and were sent.
    pub sent: u64,
    /// Requests the policy refused.
    pub denied: u64,
    /// Why the most recent request was refused.
    pub last_denial: Option<Denial>,
}

/// The `WasiHttpHooks` of one store.
pub struct PolicyHooks {
    policy: Arc<OutboundPolicy>,
    log: Arc<Mutex<OutboundLog>>,
}

impl PolicyHooks {
    pub fn new(policy: Arc<OutboundPolicy>) -> Self {
        PolicyHooks {
            policy,
            log: Arc::default(),
        }
    }

    /// A handle on this store's request log.
    pub fn log(&self) -> Arc<Mutex<OutboundLog>> {
        self.log.clone()
    }

    /// The host's timeouts, shortened where the guest asked for less.
    fn options(&self, guest: Option<RequestOptions>) -> RequestOptions {
        let host = self.policy.timeouts;
        let min = |host: Duration, guest: Option<Duration>| match guest {
            Some(g) if g < host => g,
            _ => host,
        };
        let guest = guest.unwrap_or_default();
        RequestOptions {
            connect_timeout: Some(min(host.connect, guest.connect_timeout)),
            first_byte_timeout: Some(min(host.first_byte, guest.first_byte_timeout)),
            between_bytes_timeout: Some(min(host.between_bytes, guest.between_bytes_timeout)),
        }
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

impl WasiHttpHooks for PolicyHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _io: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>
    {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("");
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
        let verdict = self.policy.allow.check(scheme, authority);
        {
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            match &verdict {
                Ok(()) => log.sent += 1,
                Err(denial) => {
                    log.denied += 1;
                    log.last_denial = Some(denial.clone());
                }
            }
        }
        let options = self.options(options);
        Box::new(async move {
            verdict.map_err(|_| HttpError::HttpRequestDenied)?;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as IoFuture))
        })
    }
}
