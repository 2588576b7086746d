//! The HTTP/1.1 client against raw sockets that play the backend byte by byte.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::body::{empty, full};

/// Keeps the connection a body gives back, for the test to look at.
#[derive(Clone, Default)]
struct Kept(Arc<Mutex<Option<Connection>>>);

impl Release for Kept {
    fn release(self, connection: Connection) {
        *self.0.lock().unwrap() = Some(connection);
    }
}

impl Kept {
    fn released(&self) -> bool {
        self.0.lock().unwrap().is_some()
    }
}

/// A backend that runs `script` on the one connection it accepts.
async fn backend<F, Fut>(script: F) -> Connection
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        script(stream).await;
    });
    let stream = TcpStream::connect(addr).await.unwrap();
    Connection::new(UpstreamStream::Plain(stream))
}

/// Reads from `stream` until `bytes` have arrived in all, returning them as text.
async fn read_until(stream: &mut TcpStream, end: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(end) {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "the client closed early; got {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(seen).unwrap()
}

/// Answers one request with `parts`, written one by one with a pause between them.
async fn answer_in_parts(parts: &'static [&'static str]) -> Connection {
    backend(move |mut stream| async move {
        read_until(&mut stream, "\r\n\r\n").await;
        for part in parts {
            stream.write_all(part.as_bytes()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Held open so that only framing can end the body.
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await
}

/// Answers one request with `answer` and closes the connection.
async fn answer_then_close(answer: &'static [u8]) -> Connection {
    backend(move |mut stream| async move {
        read_until(&mut stream, "\r\n\r\n").await;
        stream.write_all(answer).await.unwrap();
    })
    .await
}

fn get() -> Request<BoxBody> {
    Request::get("http://backend/x")
        .header("host", "backend")
        .body(empty())
        .unwrap()
}

async fn body_text<R: Release>(response: Response<ResponseBody<R>>) -> Result<String, String> {
    let collected = tokio::time::timeout(Duration::from_secs(3), response.into_body().collect())
        .await
        .expect("the body ends");
    collected
        .map(|c| String::from_utf8(c.to_bytes().to_vec()).unwrap())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_chunked_body_split_anywhere_is_read_and_frees_the_connection() {
    let connection = answer_in_parts(&[
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nab",
        "c\r",
        "\n1",
        "0\r\n0123456789abcdef\r\n0\r\n",
        "x-trailer: dropped\r\n\r\n",
    ])
    .await;
    let kept = Kept::default();
    let response = connection.send(get(), kept.clone()).await.unwrap();
    assert_eq!(body_text(response).await.unwrap(), "abc0123456789abcdef");
    assert!(kept.released());
}

#[tokio::test]
async fn a_body_whose_end_arrived_with_its_data_says_so_with_the_data() {
    let connection = answer_in_parts(&[
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    ])
    .await;
    let kept = Kept::default();
    let mut body = connection
        .send(get(), kept.clone())
        .await
        .unwrap()
        .into_body();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "hi");
    assert!(
        body.is_end_stream(),
        "the terminating chunk was already buffered"
    );
    assert!(kept.released());
}

#[tokio::test]
async fn a_body_delimited_by_close_ends_at_close_and_is_not_reused() {
    let connection = answer_then_close(b"HTTP/1.1 200 OK\r\n\r\nuntil close").await;
    let kept = Kept::default();
    let response = connection.send(get(), kept.clone()).await.unwrap();
    assert_eq!(body_text(response).await.unwrap(), "until close");
    assert!(!kept.released());
}

#[tokio::test]
async fn a_body_cut_short_is_an_error_and_the_connection_is_dropped() {
    let connection = answer_then_close(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf").await;
    let kept = Kept::default();
    let response = connection.send(get(), kept.clone()).await.unwrap();
    let error = body_text(response).await.unwrap_err();
    assert!(
        error.contains("closed the connection before the response body was complete"),
        "{error}"
    );
    assert!(!kept.released());
}

#[tokio::test]
async fn a_malformed_chunk_size_is_an_error() {
    let connection =
        answer_in_parts(&["HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nab\r\n"])
            .await;
    let response = connection.send(get(), Kept::default()).await.unwrap();
    let error = body_text(response).await.unwrap_err();
    assert!(error.contains("chunk size is not hexadecimal"), "{error}");
}

#[tokio::test]
async fn interim_answers_are_passed_over() {
    let connection = answer_in_parts(&[
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
    ])
    .await;
    let response = connection.send(get(), Kept::default()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(!response.headers().contains_key("link"));
    assert_eq!(body_text(response).await.unwrap(), "ok");
}

#[tokio::test]
async fn a_switch_of_protocols_is_refused() {
    let connection =
        answer_in_parts(&["HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n"]).await;
    let Err(SendError::Failed(reason)) = connection.send(get(), Kept::default()).await else {
        panic!("a 101 was taken as an interim answer");
    };
    assert!(reason.contains("switched protocols (101)"), "{reason}");
}

#[tokio::test]
async fn a_response_head_that_never_ends_is_refused() {
    let connection = backend(|mut stream| async move {
        read_until(&mut stream, "\r\n\r\n").await;
        let line = format!("x-filler: {}\r\n", "a".repeat(1000));
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n").await;
        for _ in 0..70 {
            if stream.write_all(line.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await;
    let Err(SendError::Failed(reason)) = connection.send(get(), Kept::default()).await else {
        panic!("a 70 KB head was taken");
    };
    assert!(reason.contains("longer than 65536 bytes"), "{reason}");
}

/// A body that gives `frames` and then waits for ever.
fn endless(frames: Vec<&'static str>) -> BoxBody {
    let frames = futures_util::stream::iter(frames)
        .map(|frame| Ok::<_, BoxError>(Frame::data(Bytes::from(frame))))
        .chain(futures_util::stream::pending());
    BoxBody::new(StreamBody::new(frames))
}

/// A body of `frames` with no length known in advance.
fn streamed(frames: Vec<&'static str>) -> BoxBody {
    let frames = futures_util::stream::iter(frames)
        .map(|frame| Ok::<_, BoxError>(Frame::data(Bytes::from(frame))));
    BoxBody::new(StreamBody::new(frames))
}

#[tokio::test]
async fn a_body_of_unknown_length_goes_in_chunks() {
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    let connection = backend(|mut stream| async move {
        let request = read_until(&mut stream, "0\r\n\r\n").await;
        stream
            .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .await
            .unwrap();
        let _ = seen_tx.send(request);
    })
    .await;
    let request = Request::post("http://backend/up")
        .body(streamed(vec!["abc", "de"]))
        .unwrap();
    let kept = Kept::default();
    let response = connection.send(request, kept.clone()).await.unwrap();
    assert_eq!(response.status(), 204);
    assert!(
        kept.released(),
        "a 204 has no body: the connection is free at once"
    );
    let request = seen_rx.await.unwrap();
    assert!(
        request.starts_with("POST /up HTTP/1.1\r\nhost: backend\r\n"),
        "{request}"
    );
    assert!(
        request.ends_with("transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"),
        "{request}"
    );
}

#[tokio::test]
async fn a_large_sized_body_arrives_whole() {
    let payload: &'static str = Box::leak("x".repeat(200_000).into_boxed_str());
    let connection = backend(move |mut stream| async move {
        let mut request = read_until(&mut stream, "\r\n\r\n").await;
        let head_end = request.find("\r\n\r\n").unwrap() + 4;
        while request.len() < head_end + payload.len() {
            let mut buf = vec![0u8; 65536];
            let n = stream.read(&mut buf).await.unwrap();
            request.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
        assert!(request.contains("content-length: 200000\r\n"));
        assert_eq!(&request[head_end..], payload);
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
    })
    .await;
    let request = Request::post("http://backend/")
        .body(full(payload))
        .unwrap();
    let response = connection.send(request, Kept::default()).await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_backend_that_answers_before_the_body_ends_is_heard_and_not_reused() {
    let connection = backend(|mut stream| async move {
        read_until(&mut stream, "abc").await;
        stream
            .write_all(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\n\r\nbig!")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let request = Request::post("http://backend/")
        .body(endless(vec!["abc"]))
        .unwrap();
    let kept = Kept::default();
    let response = tokio::time::timeout(
        Duration::from_secs(3),
        connection.send(request, kept.clone()),
    )
    .await
    .expect("the early answer is seen while the body still waits")
    .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(body_text(response).await.unwrap(), "big!");
    assert!(!kept.released(), "the connection was left mid-request");
}

#[tokio::test]
async fn a_failing_client_body_fails_the_request() {
    let connection = backend(|mut stream| async move {
        let _ = read_until(&mut stream, "\r\n\r\n").await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let broken = futures_util::stream::iter([
        Ok(Frame::data(Bytes::from_static(b"abc"))),
        Err::<Frame<Bytes>, BoxError>("client went away".into()),
    ]);
    let request = Request::post("http://backend/")
        .body(BoxBody::new(StreamBody::new(broken)))
        .unwrap();
    let Err(SendError::ClientBody { reason, gone }) =
        connection.send(request, Kept::default()).await
    else {
        panic!("the request went through");
    };
    assert!(
        reason.contains("reading the request body from the client failed: client went away"),
        "{reason}"
    );
    assert!(
        !gone,
        "a body error that is not the connection closing is the body's fault"
    );
}

/// A backend that closes the connection as soon as the request head is in.
async fn closing_backend() -> Connection {
    backend(|mut stream| async move {
        read_until(&mut stream, "\r\n\r\n").await;
    })
    .await
}

#[tokio::test]
async fn a_repeatable_request_closed_without_answer_is_handed_back() {
    let Err(SendError::Unsent { request, reason }) =
        closing_backend().await.send(get(), Kept::default()).await
    else {
        panic!("no request handed back");
    };
    assert!(
        reason.contains("closed the connection before answering"),
        "{reason}"
    );
    assert_eq!(request.uri(), "http://backend/x");
}

#[tokio::test]
async fn a_post_closed_without_answer_is_not_repeated() {
    let request = Request::post("http://backend/").body(full("{}")).unwrap();
    let Err(SendError::Unanswered(reason)) =
        closing_backend().await.send(request, Kept::default()).await
    else {
        panic!("a POST the backend may have acted on was handed back for another try");
    };
    assert!(
        reason.contains("closed the connection before answering"),
        "{reason}"
    );
}

#[tokio::test]
async fn an_idle_connection_closed_by_the_backend_is_not_usable() {
    let (close_tx, close_rx) = tokio::sync::oneshot::channel::<()>();
    let connection = backend(|mut stream| async move {
        read_until(&mut stream, "\r\n\r\n").await;
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .await
            .unwrap();
        let _ = close_rx.await;
    })
    .await;
    let kept = Kept::default();
    let response = connection.send(get(), kept.clone()).await.unwrap();
    assert_eq!(body_text(response).await.unwrap(), "ok");
    let mut connection = kept.0.lock().unwrap().take().unwrap();
    assert!(connection.is_usable());
    drop(close_tx);
    // The reactor learns of the close on its next turn.
    let mut usable = true;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        usable = connection.is_usable();
        if !usable {
            break;
        }
    }
    assert!(!usable, "a closed connection was still offered");
}

#[tokio::test]
async fn a_content_length_beside_transfer_encoding_does_not_travel_on() {
    let connection = answer_in_parts(&[
        "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n",
        "a\r\n0123456789\r\n0\r\n\r\n",
    ])
    .await;
    let response = connection.send(get(), Kept::default()).await.unwrap();
    assert!(
        !response.headers().contains_key("content-length"),
        "the client would cut the body at the length"
    );
    assert_eq!(body_text(response).await.unwrap(), "0123456789");
}

#[tokio::test]
async fn a_transfer_coding_the_gateway_does_not_decode_is_refused() {
    let connection = answer_in_parts(&[
        "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
        "3\r\nabc\r\n0\r\n\r\n",
    ])
    .await;
    let Err(SendError::Failed(reason)) = connection.send(get(), Kept::default()).await else {
        panic!("gzip bytes would reach the client as plain ones");
    };
    assert!(reason.contains("transfer coding 'gzip'"), "{reason}");
}
