//! [`HttpClient`] over wasi:http `outgoing-handler`. The host applies its
//! own timeouts and destination policy, so no request options are set here.
//! A batch of requests is in flight together ([`HttpClient::get_all`]).

use crate::http::{Get, HttpClient, HttpResponse, TransportError, body_failure, body_limit};
use crate::url::{Scheme as UrlScheme, Url};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse, Method,
    OutgoingRequest, Scheme,
};
use wasip2::io::poll::{Pollable, poll};
use wasip2::io::streams::StreamError;

/// Bytes asked for per read; the stream may return fewer.
const CHUNK: u64 = 64 * 1024;

/// The component's HTTP client: every request goes out through the host's
/// wasi:http `outgoing-handler` (and so through its policy and limits).
pub struct WasiHttp;

impl HttpClient for WasiHttp {
    fn get(&mut self, url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, TransportError> {
        let future = start(url, headers)?;
        let response = loop {
            if let Some(answer) = future.get() {
                break answer;
            }
            future.subscribe().block();
        };
        read_response(response)
    }

    /// Starts every request, then waits on all of them at once (one
    /// `wasi:io/poll` over their futures) and reads each answer as it
    /// comes. The host runs the requests meanwhile: they are in flight
    /// together, whatever order they end in.
    fn get_all(&mut self, batch: &[Get<'_>]) -> Vec<Result<HttpResponse, TransportError>> {
        if batch.len() < 2 {
            return batch.iter().map(|g| self.get(g.url, g.headers)).collect();
        }
        let mut answers: Vec<Option<Result<HttpResponse, TransportError>>> =
            batch.iter().map(|_| None).collect();
        let mut pending: Vec<(usize, FutureIncomingResponse)> = Vec::with_capacity(batch.len());
        for (i, g) in batch.iter().enumerate() {
            match start(g.url, g.headers) {
                Ok(future) => pending.push((i, future)),
                Err(e) => answers[i] = Some(Err(e)),
            }
        }
        while !pending.is_empty() {
            let mut ready: Vec<usize> = {
                // Pollables are children of their futures: dropped before
                // any future is.
                let pollables: Vec<Pollable> = pending.iter().map(|(_, f)| f.subscribe()).collect();
                let refs: Vec<&Pollable> = pollables.iter().collect();
                poll(&refs).into_iter().map(|k| k as usize).collect()
            };
            ready.sort_unstable_by(|a, b| b.cmp(a));
            ready.dedup();
            for k in ready {
                if k >= pending.len() {
                    continue;
                }
                if let Some(answer) = pending[k].1.get() {
                    let (i, future) = pending.remove(k);
                    drop(future);
                    answers[i] = Some(read_response(answer));
                }
            }
        }
        answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err(TransportError::Other("no answer".into()))))
            .collect()
    }
}

/// Builds and sends one `GET`: its future.
fn start(url: &str, headers: &[(&str, &str)]) -> Result<FutureIncomingResponse, TransportError> {
    let url = Url::parse(url)
        .map_err(|e| TransportError::Other(format!("invalid request URL ({e:?})")))?;
    let list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    // The error names the problem, never a header value (one is the key).
    let fields = Fields::from_list(&list)
        .map_err(|e| TransportError::Other(format!("a request header was refused ({e:?})")))?;
    let request = OutgoingRequest::new(fields);
    let scheme = match url.scheme {
        UrlScheme::Http => Scheme::Http,
        UrlScheme::Https => Scheme::Https,
    };
    let refused = |what: &str| TransportError::Other(format!("the request {what} was refused"));
    request
        .set_method(&Method::Get)
        .map_err(|()| refused("method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| refused("scheme"))?;
    request
        .set_authority(Some(&url.authority()))
        .map_err(|()| refused("authority"))?;
    request
        .set_path_with_query(Some(&url.path_with_query()))
        .map_err(|()| refused("path"))?;
    // Errors can come from `handle` itself or, for instance a policy
    // denial, only later from the future.
    outgoing_handler::handle(request, None).map_err(map_code)
}

/// Reads a finished future's answer: status, headers and body.
fn read_response(
    answer: Result<Result<IncomingResponse, ErrorCode>, ()>,
) -> Result<HttpResponse, TransportError> {
    let response = match answer {
        Ok(Ok(response)) => response,
        Ok(Err(code)) => return Err(map_code(code)),
        Err(()) => {
            return Err(TransportError::Other(
                "the response was already taken".into(),
            ));
        }
    };
    let status = response.status();
    let headers: Vec<(String, String)> = response
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let limit = body_limit(status);
    let declared = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        body_failure(status, TransportError::TooLarge)?;
    }
    let body = response
        .consume()
        .map_err(|()| TransportError::Other("the body was already taken".into()))?;
    let (bytes, failure) = read_body(&body, limit);
    if let Some(err) = failure {
        body_failure(status, err)?;
    }
    // Trailers are not used; finishing just releases the body. (A body
    // shorter than its Content-Length is caught by
    // `crate::upstream::check_complete`.)
    drop(IncomingBody::finish(body));
    Ok(HttpResponse {
        status,
        headers,
        body: bytes,
    })
}

/// Reads the body to its end or to `limit` bytes: the bytes read, and why
/// reading stopped early (passing `limit` is [`TransportError::TooLarge`]).
/// The stream is dropped on return, as `IncomingBody::finish` requires.
fn read_body(body: &IncomingBody, limit: usize) -> (Vec<u8>, Option<TransportError>) {
    let Ok(stream) = body.stream() else {
        let err = TransportError::Other("the body stream was already taken".into());
        return (Vec::new(), Some(err));
    };
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(CHUNK) {
            Ok(chunk) => {
                if bytes.len() + chunk.len() > limit {
                    let room = limit - bytes.len();
                    bytes.extend_from_slice(&chunk[..room]);
                    return (bytes, Some(TransportError::TooLarge));
                }
                bytes.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => return (bytes, None),
            Err(StreamError::LastOperationFailed(e)) => {
                let err = match wasip2::http::types::http_error_code(&e) {
                    Some(code) => map_code(code),
                    None => TransportError::Protocol(format!(
                        "reading the body failed ({})",
                        e.to_debug_string()
                    )),
                };
                return (bytes, Some(err));
            }
        }
    }
}

fn map_code(code: ErrorCode) -> TransportError {
    use ErrorCode as E;
    let detail = format!("{code:?}");
    match code {
        // The host's own refusal needs no detail; the guest's message says it all.
        E::HttpRequestDenied => TransportError::Denied(String::new()),
        E::DestinationIpProhibited => {
            TransportError::Denied("the destination IP address is prohibited".into())
        }
        E::DnsTimeout
        | E::ConnectionTimeout
        | E::ConnectionReadTimeout
        | E::ConnectionWriteTimeout
        | E::HttpResponseTimeout => TransportError::Timeout(detail),
        E::DnsError(_)
        | E::DestinationNotFound
        | E::DestinationUnavailable
        | E::DestinationIpUnroutable
        | E::ConnectionRefused
        | E::ConnectionTerminated
        | E::ConnectionLimitReached
        | E::TlsProtocolError
        | E::TlsCertificateError
        | E::TlsAlertReceived(_) => TransportError::Connection(detail),
        E::HttpResponseBodySize(_) => TransportError::TooLarge,
        E::HttpProtocolError
        | E::HttpResponseIncomplete
        | E::HttpResponseHeaderSectionSize(_)
        | E::HttpResponseHeaderSize(_)
        | E::HttpResponseTrailerSectionSize(_)
        | E::HttpResponseTrailerSize(_)
        | E::HttpResponseTransferCoding(_)
        | E::HttpResponseContentCoding(_)
        | E::HttpUpgradeFailed => TransportError::Protocol(detail),
        _ => TransportError::Other(detail),
    }
}
