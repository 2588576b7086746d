//! A future under an optional deadline.
//!
//! `match limit { Some(l) => timeout(l, f).await, None => f.await }` keeps room for the
//! future twice in the caller's state (once per branch, plus the argument), and the
//! request path nests several such calls: the state grew to tens of kilobytes, copied on
//! every request. `Deadline` holds the future once, with the timer beside it; the timer
//! is boxed, so a request without a limit carries no timer (tokio's is large and
//! cache-line aligned, which would enlarge and align every enclosing state).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Sleep;

/// The deadline passed before the future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

pin_project_lite::pin_project! {
    /// See [`deadline`].
    pub struct Deadline<F> {
        #[pin]
        inner: F,
        timer: Option<Pin<Box<Sleep>>>,
    }
}

/// Runs `inner` until it finishes or, when `limit` is set, until the limit passes.
pub fn deadline<F: Future>(limit: Option<Duration>, inner: F) -> Deadline<F> {
    Deadline {
        inner,
        timer: limit.map(|limit| Box::pin(tokio::time::sleep(limit))),
    }
}

impl<F: Future> Future for Deadline<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The future first: one that is ready as the timer fires still counts.
        if let Poll::Ready(output) = this.inner.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match this.timer {
            Some(timer) => timer.as_mut().poll(cx).map(|()| Err(Elapsed)),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn passes_the_output_through_before_the_limit() {
        let fast = deadline(Some(Duration::from_secs(1)), async { 7 });
        assert_eq!(fast.await, Ok(7));
    }

    #[tokio::test(start_paused = true)]
    async fn fails_a_future_that_outlives_the_limit() {
        let slow = deadline(
            Some(Duration::from_secs(1)),
            tokio::time::sleep(Duration::from_secs(5)),
        );
        assert_eq!(slow.await, Err(Elapsed));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_limit_waits_as_long_as_it_takes() {
        let unlimited = deadline(None, async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            "done"
        });
        assert_eq!(unlimited.await, Ok("done"));
    }
}
