//! Every page response ends. Leptos streams a page as its `<Suspense>` boundaries resolve, and
//! now and then (under load, about one page in several thousand in the test suite) a boundary
//! is never told that its last resource resolved: the status and the first chunks are sent and
//! the response then stays open for ever (the family of leptos#4851, still seen with leptos
//! 0.8.23). A page whose body sends nothing for [`STALL`] is closed with what it has sent, and
//! the stall is logged with its path, so a browser shows the page (or can be reloaded) instead
//! of waiting without end.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

/// How long a page's body may send nothing before it is closed: far longer than any page of
/// Rekey takes to render its slowest part.
const STALL: Duration = Duration::from_secs(15);

/// Wraps the body of every HTML response so that it ends after [`STALL`] without a chunk.
pub async fn close_stalled_pages(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !is_page {
        return response;
    }
    response.map(|body| Body::new(StallGuard::new(body, STALL, path)))
}

/// A body that ends once its inner body sends nothing for `stall`.
struct StallGuard {
    inner: Body,
    stall: Duration,
    idle: Pin<Box<tokio::time::Sleep>>,
    path: String,
}

impl StallGuard {
    fn new(inner: Body, stall: Duration, path: String) -> Self {
        Self {
            inner,
            stall,
            idle: Box::pin(tokio::time::sleep(stall)),
            path,
        }
    }
}

impl HttpBody for StallGuard {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = tokio::time::Instant::now() + self.stall;
                self.idle.as_mut().reset(next);
                Poll::Ready(frame)
            }
            Poll::Pending => match self.idle.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    tracing::warn!(path = %self.path, stalled_secs = self.stall.as_secs(), "a page stopped streaming; closed it with what it had sent");
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_body_that_stops_sending_is_closed_with_what_it_sent() {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        tx.send(Ok(Bytes::from_static(b"<html>first chunk")))
            .await
            .unwrap();
        let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let guarded = StallGuard::new(
            Body::from_stream(stream),
            Duration::from_millis(50),
            "/test".into(),
        );
        // The sender is kept alive and sends nothing more: without the guard this never ends.
        let collected = guarded.collect().await.unwrap().to_bytes();
        assert_eq!(&collected[..], b"<html>first chunk");
        drop(tx);
    }
}
