//! The same CircleCI logic the component holds, compiled natively and run
//! against the same simulator: the baseline that makes the wasm overhead a
//! ratio measured in one run.
//!
//! [`NativeClient`] implements the connector's [`HttpClient`] with hyper's
//! HTTP/1.1 client over one keep-alive connection, as the host's pooled
//! sender does for the component, and times what it waits on the network by
//! the host's definition (request sent → response head, plus reading the
//! body), so "ours" means the same thing on both sides. [`sync`] drives
//! `circleci_connector::fetch` page by page into a JSON Lines file, as the
//! harness does for the component.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use circleci_connector::http::{HttpClient, HttpResponse, TransportError, body_limit};
use circleci_connector::model::FetchRequest;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// A blocking keep-alive HTTP/1.1 client for plain-http loopback URLs.
pub struct NativeClient {
    runtime: tokio::runtime::Runtime,
    sender: Option<SendRequest<Empty<Bytes>>>,
    /// Time spent waiting on the upstream: the exchange, from sending the
    /// request to the end of its body.
    pub waited: Duration,
    /// Time inside [`HttpClient::get`] in all: the exchange and the
    /// client's own work around it (parsing the URL, recording it). The
    /// logic's time is what `fetch` spends outside it.
    pub in_client: Duration,
    pub requests: u64,
    pub connections: u64,
    /// Every URL asked for, in order, when recording (for replaying the
    /// sync's mix).
    pub urls: Option<Vec<String>>,
}

impl NativeClient {
    pub fn new() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(NativeClient {
            runtime,
            sender: None,
            waited: Duration::ZERO,
            in_client: Duration::ZERO,
            requests: 0,
            connections: 0,
            urls: None,
        })
    }

    async fn exchange(
        sender: &mut Option<SendRequest<Empty<Bytes>>>,
        connections: &mut u64,
        url: &http::Uri,
        headers: &[(&str, &str)],
    ) -> Result<HttpResponse, TransportError> {
        let err = |e: &dyn std::fmt::Display| TransportError::Connection(e.to_string());
        let authority = url
            .authority()
            .ok_or_else(|| TransportError::Other("no authority".into()))?
            .clone();
        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            let tcp = tokio::net::TcpStream::connect(authority.as_str())
                .await
                .map_err(|e| err(&e))?;
            tcp.set_nodelay(true).map_err(|e| err(&e))?;
            let (s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .map_err(|e| err(&e))?;
            tokio::spawn(conn);
            *sender = Some(s);
            *connections += 1;
        }
        let s = sender.as_mut().expect("connected above");
        s.ready().await.map_err(|e| err(&e))?;
        let path = url.path_and_query().map_or("/", |p| p.as_str());
        let mut request = http::Request::get(path).header(http::header::HOST, authority.as_str());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| TransportError::Other(e.to_string()))?;
        let response = s.send_request(request).await.map_err(|e| err(&e))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = Limited::new(response.into_body(), body_limit(status))
            .collect()
            .await
            .map_err(|e| TransportError::Protocol(e.to_string()))?
            .to_bytes()
            .to_vec();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

impl HttpClient for NativeClient {
    fn get(&mut self, url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, TransportError> {
        // All of this is the HTTP client's time, not the logic's: parsing
        // the URL and keeping it are timed with the exchange.
        let started = Instant::now();
        let uri: http::Uri = url
            .parse()
            .map_err(|_| TransportError::Other("bad url".into()))?;
        if uri.scheme_str() != Some("http") {
            return Err(TransportError::Denied(
                "the native baseline speaks plain http to the simulator only".into(),
            ));
        }
        let exchange = Instant::now();
        let result = self.runtime.block_on(Self::exchange(
            &mut self.sender,
            &mut self.connections,
            &uri,
            headers,
        ));
        self.waited += exchange.elapsed();
        if let Some(urls) = &mut self.urls {
            urls.push(url.to_string());
        }
        self.requests += 1;
        self.in_client += started.elapsed();
        result
    }
}

/// What one native sync did.
#[derive(Debug, Clone)]
pub struct NativeSync {
    pub wall: Duration,
    pub waited: Duration,
    /// Time inside `circleci_connector::fetch` outside the HTTP client:
    /// the CircleCI logic alone (what the component's guest time is).
    pub logic: Duration,
    pub records: u64,
    pub bytes: u64,
    pub requests: u64,
    pub connections: u64,
    /// The URLs the sync asked for, in order.
    pub urls: Vec<String>,
}

/// Syncs `stream` to its end with the native logic, writing JSON Lines to
/// `out` (buffered, like the harness's writer sink).
pub fn sync(
    credential: &[(String, String)],
    stream: &str,
    settings: &str,
    out: &std::path::Path,
) -> Result<NativeSync> {
    let mut client = NativeClient::new()?;
    client.urls = Some(Vec::new());
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    let (mut records, mut bytes, mut pages) = (0u64, 0u64, 0u64);
    let mut state = None;
    let mut in_fetch = Duration::ZERO;
    let started = Instant::now();
    loop {
        let mut request = FetchRequest::new(&[stream], settings);
        request.state = state.take();
        let call = Instant::now();
        let page = circleci_connector::fetch(&mut client, credential, &request)
            .map_err(|e| anyhow::anyhow!("native fetch failed: {e:?}"))?;
        in_fetch += call.elapsed();
        pages += 1;
        for record in &page.records {
            file.write_all(record.data.as_bytes())?;
            file.write_all(b"\n")?;
            bytes += record.data.len() as u64 + 1;
        }
        records += page.records.len() as u64;
        file.flush()?;
        state = page.state;
        if !page.has_more {
            break;
        }
        if pages > 10_000_000 {
            bail!("the native sync did not end");
        }
    }
    file.flush().context("writing native records")?;
    Ok(NativeSync {
        wall: started.elapsed(),
        waited: client.waited,
        logic: in_fetch.saturating_sub(client.in_client),
        records,
        bytes,
        requests: client.requests,
        connections: client.connections,
        urls: client.urls.unwrap_or_default(),
    })
}
