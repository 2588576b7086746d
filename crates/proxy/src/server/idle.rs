//! Closing client connections that sit idle: kept alive with nothing in flight, never
//! finishing a request head (a slow-header client), or holding a request whose body has
//! stopped coming while the gateway waits for it (a slow-body client).
//!
//! hyper's own header-read timeout arms, and drops, a timer for every request head; that
//! was a measurable share of each request's CPU time. Here each connection has one timer
//! that wakes once per period, and a request only bumps two counters. A connection is
//! closed when a whole period passes with nothing in flight and no request started, so
//! an idle connection goes after one to two periods.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Sleep;

/// What the watchdog reads about one connection; requests update it.
#[derive(Debug, Default)]
pub struct Activity {
    in_flight: AtomicUsize,
    started: AtomicU64,
    /// Request bodies the gateway is waiting on (its last read found nothing), and the
    /// frames of request bodies read so far: a body waited on for a whole period with no
    /// frame read has stalled.
    body_waits: AtomicUsize,
    body_frames: AtomicU64,
    /// HTTP/2 connections multiplex and have their own keep-alive; they are not watched.
    multiplexed: AtomicBool,
}

impl Activity {
    /// Marks a request as started; it counts as in flight until the guard is dropped.
    pub fn begin(self: &Arc<Self>, version: http::Version) -> Busy {
        // Relaxed: the watchdog only needs to see the counts eventually, and it looks
        // once per period.
        self.started.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        if version == http::Version::HTTP_2 {
            self.multiplexed.store(true, Ordering::Relaxed);
        }
        Busy(self.clone())
    }
}

/// A request in flight on its connection; dropped when its response is done or abandoned.
#[derive(Debug)]
pub struct Busy(Arc<Activity>);

impl Busy {
    /// The request's body, watched for stalls by its connection's watchdog.
    pub fn watch_body(&self, body: hyper::body::Incoming) -> ClientBody {
        ClientBody {
            inner: body,
            activity: self.0.clone(),
            waiting: false,
        }
    }
}

/// A client's request body that tells its connection's watchdog when the gateway waits for
/// it and when it makes progress.
#[derive(Debug)]
pub struct ClientBody {
    inner: hyper::body::Incoming,
    activity: Arc<Activity>,
    waiting: bool,
}

impl ClientBody {
    fn stop_waiting(&mut self) {
        if self.waiting {
            self.waiting = false;
            self.activity.body_waits.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl http_body::Body for ClientBody {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, hyper::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {
                if !this.waiting {
                    this.waiting = true;
                    this.activity.body_waits.fetch_add(1, Ordering::Relaxed);
                }
                Poll::Pending
            }
            Poll::Ready(frame) => {
                this.stop_waiting();
                this.activity.body_frames.fetch_add(1, Ordering::Relaxed);
                Poll::Ready(frame)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ClientBody {
    fn drop(&mut self) {
        self.stop_waiting();
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// See [`close_when_idle`].
    pub struct CloseWhenIdle<F> {
        #[pin]
        connection: F,
        // None once the connection turned out to be HTTP/2.
        timer: Option<Pin<Box<Sleep>>>,
        activity: Arc<Activity>,
        period: Duration,
        // `started` when the timer was last set.
        seen: u64,
        // `body_frames` when the timer was last set.
        seen_frames: u64,
    }
}

/// Runs `connection` until it ends, or until it has been idle for a whole `period`; then
/// it is dropped, which closes the socket. Yields None when it was closed for idleness.
pub fn close_when_idle<F: Future>(
    connection: F,
    activity: Arc<Activity>,
    period: Duration,
) -> CloseWhenIdle<F> {
    CloseWhenIdle {
        connection,
        timer: Some(Box::pin(tokio::time::sleep(period))),
        seen: activity.started.load(Ordering::Relaxed),
        seen_frames: activity.body_frames.load(Ordering::Relaxed),
        activity,
        period,
    }
}

impl<F: Future> Future for CloseWhenIdle<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.connection.poll(cx) {
            return Poll::Ready(Some(output));
        }
        while let Some(timer) = this.timer {
            if timer.as_mut().poll(cx).is_pending() {
                break;
            }
            if this.activity.multiplexed.load(Ordering::Relaxed) {
                *this.timer = None;
                break;
            }
            let started = this.activity.started.load(Ordering::Relaxed);
            let frames = this.activity.body_frames.load(Ordering::Relaxed);
            let quiet = started == *this.seen;
            let idle = quiet && this.activity.in_flight.load(Ordering::Relaxed) == 0;
            let body_stalled = quiet
                && frames == *this.seen_frames
                && this.activity.body_waits.load(Ordering::Relaxed) > 0;
            if idle || body_stalled {
                return Poll::Ready(None);
            }
            *this.seen = started;
            *this.seen_frames = frames;
            let next = timer.deadline() + *this.period;
            timer.as_mut().reset(next);
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn closes_a_connection_that_never_sends_a_request() {
        let activity = Arc::new(Activity::default());
        let closed = close_when_idle(
            std::future::pending::<()>(),
            activity,
            Duration::from_secs(30),
        );
        assert_eq!(closed.await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn keeps_a_connection_while_a_request_is_in_flight() {
        let activity = Arc::new(Activity::default());
        let busy = activity.begin(http::Version::HTTP_11);
        let long_request = async {
            tokio::time::sleep(Duration::from_secs(300)).await;
            drop(busy);
            "served"
        };
        let result = close_when_idle(long_request, activity, Duration::from_secs(30));
        assert_eq!(result.await, Some("served"));
    }

    #[tokio::test(start_paused = true)]
    async fn keeps_a_connection_that_starts_requests_within_each_period() {
        let activity = Arc::new(Activity::default());
        let watched = activity.clone();
        let client = async move {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                drop(watched.begin(http::Version::HTTP_11));
            }
            "ten requests"
        };
        let result = close_when_idle(client, activity, Duration::from_secs(30));
        assert_eq!(result.await, Some("ten requests"));
    }

    #[tokio::test(start_paused = true)]
    async fn leaves_http2_connections_alone() {
        let activity = Arc::new(Activity::default());
        drop(activity.begin(http::Version::HTTP_2));
        let quiet = async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            "still open"
        };
        let result = close_when_idle(quiet, activity, Duration::from_secs(30));
        assert_eq!(result.await, Some("still open"));
    }
}
