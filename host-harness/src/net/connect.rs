//! Opening a connection to addresses the policy already checked: TCP, then
//! TLS for https, then the HTTP/1.1 client handshake.
//!
//! Everything that makes a connection lives in [`open`], and it returns a
//! [`Connection`] that can carry one request after another; the instance's
//! keep-alive pool ([`super::pool`]) keeps them between requests. The
//! connection's driver runs in its own task, which holds the connection's
//! permit until the connection closes.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

use crate::policy::Destination;

/// A plain or TLS byte stream to the upstream.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// An open HTTP/1.1 connection: the handle that sends requests on it. Its
/// driver (hyper's connection task, which moves the bytes) runs in a task
/// of its own that holds the connection's permit until it ends: when the
/// server closes the connection, or when this handle is dropped, which
/// aborts the task whatever is in flight. The handle lives in the pool or
/// with the request and then its response body, so a connection nobody can
/// use any more closes at once, and its socket and permit go with it.
pub(crate) struct Connection {
    sender: http1::SendRequest<WasiBody>,
    driver: AbortHandle,
}

impl Connection {
    /// Starts `driver` in its own task, holding `permit` until it ends.
    pub(crate) fn spawn<D>(
        sender: http1::SendRequest<WasiBody>,
        driver: D,
        permit: OwnedSemaphorePermit,
    ) -> Connection
    where
        D: Future<Output = hyper::Result<()>> + Send + 'static,
    {
        let task = tokio::spawn(async move {
            if let Err(e) = driver.await {
                // The request or body on it got the error already.
                tracing::trace!(error = %e, "connection closed with an error");
            }
            drop(permit);
        });
        Connection {
            sender,
            driver: task.abort_handle(),
        }
    }

    /// The handle to send a request with.
    pub(crate) fn sender(&mut self) -> &mut http1::SendRequest<WasiBody> {
        &mut self.sender
    }

    /// Whether it is open and can take a request now.
    pub(crate) fn is_ready(&self) -> bool {
        !self.sender.is_closed() && self.sender.is_ready()
    }

    /// Whether it can take a request, when it can; false when it closed
    /// instead.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        self.sender.poll_ready(cx).map(|ready| ready.is_ok())
    }

    /// Waits until it can take a request; false when it closed instead.
    #[cfg(test)]
    pub(crate) async fn ready(&mut self) -> bool {
        std::future::poll_fn(|cx| self.poll_ready(cx)).await
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Connects to `dest` through the first of `addrs` that answers, all of them
/// checked by the caller and tried in order before `deadline`; then runs
/// the TLS handshake (https) and the HTTP/1.1 handshake, which together get
/// `handshake_timeout`. `permit` is the connection's (see [`Connection`]);
/// `connected` is called once the TCP connection is made.
pub(crate) async fn open(
    dest: &Destination,
    addrs: &[SocketAddr],
    deadline: Instant,
    handshake_timeout: Duration,
    permit: OwnedSemaphorePermit,
    connected: impl FnOnce(),
) -> Result<Connection, HttpError> {
    let tcp = tcp(addrs, deadline).await?;
    connected();
    let handshake = async {
        let stream = if dest.is_https() {
            Stream::Tls(Box::new(super::tls::handshake(tcp, dest.host()).await?))
        } else {
            Stream::Plain(tcp)
        };
        let (sender, driver) = http1::Builder::new()
            .handshake::<_, WasiBody>(TokioIo::new(stream))
            .await?;
        Ok::<_, HttpError>((sender, driver))
    };
    // A server that accepts the TCP connection and then says nothing must
    // not hold the request (and its connection permit) forever.
    let (sender, driver) = tokio::time::timeout(handshake_timeout, handshake)
        .await
        .map_err(|_| HttpError::ConnectionTimeout)??;
    Ok(Connection::spawn(sender, driver, permit))
}

/// A TCP connection to the first address that accepts one. Each attempt
/// gets an equal share of the time left, so an address that silently drops
/// packets cannot use up the whole connect timeout while another would
/// answer at once; the last address gets all that remains.
async fn tcp(addrs: &[SocketAddr], deadline: Instant) -> Result<TcpStream, HttpError> {
    let mut last = HttpError::ConnectionRefused;
    for (i, addr) in addrs.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HttpError::ConnectionTimeout);
        }
        let share = left / u32::try_from(addrs.len() - i).unwrap_or(u32::MAX);
        match tokio::time::timeout(share, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = connect_error(&e),
            Err(_) => last = HttpError::ConnectionTimeout,
        }
    }
    Err(last)
}

/// The wasi-http error for a failed TCP connect.
fn connect_error(err: &io::Error) -> HttpError {
    match err.kind() {
        io::ErrorKind::TimedOut => HttpError::ConnectionTimeout,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            HttpError::DestinationIpUnroutable
        }
        // Refused, reset, and anything else the kernel says: the
        // destination did not take the connection.
        _ => HttpError::ConnectionRefused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port on 127.0.0.1 that nothing listens on.
    async fn closed_port() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        addr
    }

    #[tokio::test]
    async fn tries_each_address_in_order() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        let closed = closed_port().await;
        let deadline = Instant::now() + Duration::from_secs(5);
        let stream = tcp(&[closed, open], deadline).await.unwrap();
        assert_eq!(stream.peer_addr().unwrap(), open);
        let err = tcp(&[closed], deadline).await.unwrap_err();
        assert!(matches!(err, HttpError::ConnectionRefused), "{err:?}");
    }

    #[tokio::test]
    async fn a_passed_deadline_is_a_connection_timeout() {
        let closed = closed_port().await;
        let err = tcp(&[closed], Instant::now()).await.unwrap_err();
        assert!(matches!(err, HttpError::ConnectionTimeout), "{err:?}");
    }

    #[test]
    fn maps_connect_errors() {
        let e = |kind| connect_error(&io::Error::from(kind));
        assert!(matches!(
            e(io::ErrorKind::ConnectionRefused),
            HttpError::ConnectionRefused
        ));
        assert!(matches!(
            e(io::ErrorKind::TimedOut),
            HttpError::ConnectionTimeout
        ));
        assert!(matches!(
            e(io::ErrorKind::NetworkUnreachable),
            HttpError::DestinationIpUnroutable
        ));
    }
}
