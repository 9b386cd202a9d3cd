//! Every page response ends. Leptos streams a page as its `<Suspense>` boundaries resolve, and
//! now and then (under load, about one page in several thousand in the test suite) a boundary
//! is never told that its last resource resolved (the family of leptos#4851 and #4578, still
//! seen with leptos 0.8.23, whose resources had all resolved by then). Two shapes were seen:
//!
//! - the status and the first chunks are sent and the response then stays open for ever: a
//!   page whose body sends nothing for [`STALL`] is closed with what it has sent;
//! - nothing is sent at all (`/credentials`, `/vault`): a `GET` that has not started answering
//!   after [`FIRST_BYTE`] is rendered again, once (a page's `GET` changes nothing, so a second
//!   rendering is safe).
//!
//! Either is logged with its path, so the stall stays visible while a person gets the page.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;

/// How long a page's body may send nothing before it is closed: far longer than any page of
/// Rekey takes to render its slowest part.
const STALL: Duration = Duration::from_secs(15);

/// How long a page's `GET` may take before it starts answering: the slowest page of Rekey
/// starts in well under a second on a loaded test machine.
const FIRST_BYTE: Duration = Duration::from_secs(10);

/// Renders a page `GET` again when the first rendering has not started answering after
/// [`FIRST_BYTE`], and wraps the body of every HTML response so that it ends after [`STALL`]
/// without a chunk.
pub async fn close_stalled_pages(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let response = match second_try(&req) {
        Some(again) => match tokio::time::timeout(FIRST_BYTE, next.clone().run(req)).await {
            Ok(response) => response,
            Err(_) => {
                tracing::warn!(%path, waited_secs = FIRST_BYTE.as_secs(), "a page did not start answering; rendering it again");
                next.run(again).await
            }
        },
        None => next.run(req).await,
    };
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

/// The same request again, for a page's `GET` or `HEAD` without a body: not the API or MCP,
/// whose handlers answer without Leptos.
fn second_try(req: &Request) -> Option<Request> {
    let path = req.uri().path();
    let page = matches!(*req.method(), Method::GET | Method::HEAD)
        && !path.starts_with("/api/")
        && path != "/mcp"
        && req.body().size_hint().exact() == Some(0);
    if !page {
        return None;
    }
    let mut again = Request::new(Body::empty());
    *again.method_mut() = req.method().clone();
    *again.uri_mut() = req.uri().clone();
    *again.version_mut() = req.version();
    *again.headers_mut() = req.headers().clone();
    *again.extensions_mut() = req.extensions().clone();
    Some(again)
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
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::ServiceExt;

    #[tokio::test(start_paused = true)]
    async fn a_page_that_never_starts_answering_is_rendered_again() {
        let renderings = Arc::new(AtomicUsize::new(0));
        let counted = renderings.clone();
        let app = axum::Router::new()
            .route(
                "/vault",
                axum::routing::get(move || {
                    let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
                    async move {
                        if first {
                            // The stalled rendering: it never answers.
                            std::future::pending::<()>().await;
                        }
                        axum::response::Html("<html>the page</html>")
                    }
                }),
            )
            .layer(axum::middleware::from_fn(close_stalled_pages));
        let response = app
            .oneshot(Request::get("/vault").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let page = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&page[..], b"<html>the page</html>");
        assert_eq!(renderings.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_api_call_is_never_sent_twice() {
        let request = Request::post("/api/v1/campaigns")
            .body(Body::from("{}"))
            .unwrap();
        assert!(second_try(&request).is_none());
        let mcp = Request::get("/mcp").body(Body::empty()).unwrap();
        assert!(second_try(&mcp).is_none());
        let page = Request::get("/credentials").body(Body::empty()).unwrap();
        assert!(second_try(&page).is_some());
    }

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
