//! The listener loop: connections are accepted up to a cap, each is served by hyper's
//! HTTP/1 with a header-read timeout, closed when it has been quiet for longer than the
//! idle timeout, and let finish its request when the server shuts down.
//!
//! `axum::serve` has none of these knobs, so a slow or silent client could hold a
//! connection (and a file descriptor) for as long as it liked.

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use futures::FutureExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

/// How long a connection may take and how many may be open (`server.*` settings).
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// A request's head must have arrived completely this long after the connection
    /// became ready for it (when it opened, or when the previous response was sent).
    pub header_read: Duration,
    /// A connection that has neither sent nor received a byte for this long is closed.
    pub idle: Duration,
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `shutdown` completes, then waits for the
/// connections in flight to finish their current request.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Connection tasks learn of the shutdown when `stop_rx` is dropped, and the loop
    // learns they are all done when every clone of `done_rx` is.
    let (stop_tx, stop_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    let epoch = Instant::now();
    let mut shutdown = pin!(shutdown.fuse());
    loop {
        // The permit is taken before accepting, so a connection over the cap waits in
        // the kernel's backlog rather than being accepted and starved.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors and the like: back off rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let io = Tracked::new(stream, permit, epoch);
        let last_activity = io.last_activity.clone();
        let service = router
            .clone()
            .map_request(move |request: Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let stop_tx = stop_tx.clone();
        let done_rx = done_rx.clone();
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(limits.header_read);
            let mut connection = pin!(http
                .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
                .with_upgrades());
            let mut stopping = pin!(stop_tx.closed().fuse());
            let mut idle = pin!(tokio::time::sleep(limits.idle));
            loop {
                tokio::select! {
                    served = connection.as_mut() => {
                        if let Err(e) = served {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    _ = &mut stopping => connection.as_mut().graceful_shutdown(),
                    _ = idle.as_mut() => {
                        let quiet = epoch.elapsed().saturating_sub(Duration::from_millis(
                            last_activity.load(Ordering::Relaxed),
                        ));
                        if quiet >= limits.idle {
                            tracing::debug!(%peer, "closing a connection idle for {quiet:?}");
                            break;
                        }
                        idle.as_mut().reset(Instant::now() + (limits.idle - quiet));
                    }
                }
            }
            drop(done_rx);
        });
    }
    drop(listener);
    drop(stop_rx);
    drop(done_rx);
    done_tx.closed().await;
}

/// A connection's stream that remembers when a byte last moved and holds its place
/// under the cap for as long as it lives (also after an upgrade to WebSocket, which
/// takes the stream over).
struct Tracked {
    stream: TcpStream,
    last_activity: Arc<AtomicU64>,
    epoch: Instant,
    _permit: OwnedSemaphorePermit,
}

impl Tracked {
    fn new(stream: TcpStream, permit: OwnedSemaphorePermit, epoch: Instant) -> Self {
        let tracked = Self {
            stream,
            last_activity: Arc::new(AtomicU64::new(0)),
            epoch,
            _permit: permit,
        };
        tracked.touch();
        tracked
    }

    fn touch(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_activity.store(now, Ordering::Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
