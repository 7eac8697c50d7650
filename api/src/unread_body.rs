//! Announcing the close of a connection left with a request body unread. A request answered
//! before its body was read to the end (a wrong route or method, a body too large, a refusal
//! from the body budget) leaves the rest of that body on the connection, so hyper closes the
//! connection after the answer. It cannot say so by then: the answer's head has been sent. A
//! client that keeps connections alive took it for open, sent its next request on it (a job,
//! say) and lost it to a broken pipe. So the answer says `Connection: close` itself.

use std::{
    convert::Infallible,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Poll},
};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use warp::http::{header, HeaderValue, Request, Response};

/// Wraps the service that answers requests: an answer to one whose body was not read to its
/// end says `Connection: close`.
#[derive(Clone)]
pub struct AnnouncesClose<S>(pub S);

impl<S, B> tower_service::Service<Request<Incoming>> for AnnouncesClose<S>
where
    S: tower_service::Service<Request<Watched>, Response = Response<B>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<B>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<B>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let (parts, body) = request.into_parts();
        let has_body = !body.is_end_stream();
        let ended = Arc::new(AtomicBool::new(false));
        let watched = Watched {
            body,
            ended: ended.clone(),
        };
        let answering = self.0.call(Request::from_parts(parts, watched));
        Box::pin(async move {
            let mut response = answering.await?;
            if has_body && !ended.load(Ordering::Acquire) {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response)
        })
    }
}

/// A request's body that notes when it has been read to its end.
pub struct Watched {
    body: Incoming,
    ended: Arc<AtomicBool>,
}

impl Body for Watched {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.body.is_end_stream() {
            self.ended.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
