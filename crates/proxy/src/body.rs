//! Body types and small constructors.

use bytes::Bytes;
use http_body::Body as _;
use http_body_util::combinators::BoxBody as HttpBoxBody;
use http_body_util::{BodyExt, Empty, Full};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type BoxBody = HttpBoxBody<Bytes, BoxError>;

pub fn empty() -> BoxBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

pub fn full(bytes: impl Into<Bytes>) -> BoxBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Wraps any body with boxed errors.
pub fn boxed<B>(body: B) -> BoxBody
where
    B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed()
}

/// Why a body could not be read into memory.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("reading the body failed: {0}")]
    Read(String),
}

/// Reads a whole body, refusing to hold more than `limit` bytes. A body that arrives in one
/// chunk (the usual case for JSON) is returned as that chunk, without a copy.
pub async fn collect_limited(mut body: BoxBody, limit: usize) -> Result<Bytes, CollectError> {
    let mut first: Option<Bytes> = None;
    let mut buffer = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CollectError::Read(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let held = first.as_ref().map_or(0, Bytes::len) + buffer.len();
        if held + data.len() > limit {
            return Err(CollectError::TooLarge(limit));
        }
        match first.take() {
            None if buffer.is_empty() => first = Some(data),
            earlier => {
                if let Some(earlier) = earlier {
                    buffer.extend_from_slice(&earlier);
                }
                buffer.extend_from_slice(&data);
            }
        }
        // A body that knows it is done (its declared length has arrived) is not polled
        // once more just to hear so.
        if body.is_end_stream() {
            break;
        }
    }
    Ok(first.unwrap_or_else(|| buffer.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::StreamBody;

    fn chunked(chunks: &[&'static str]) -> BoxBody {
        let frames = chunks
            .iter()
            .map(|c| Ok::<_, BoxError>(http_body::Frame::data(Bytes::from_static(c.as_bytes()))));
        StreamBody::new(futures_util::stream::iter(frames.collect::<Vec<_>>())).boxed()
    }

    #[tokio::test]
    async fn collects_one_or_many_chunks_within_the_limit() {
        assert_eq!(collect_limited(chunked(&[]), 4).await.unwrap(), "");
        assert_eq!(
            collect_limited(chunked(&["abcd"]), 4).await.unwrap(),
            "abcd"
        );
        assert_eq!(
            collect_limited(chunked(&["ab", "", "c", "d"]), 4)
                .await
                .unwrap(),
            "abcd"
        );
        assert!(matches!(
            collect_limited(chunked(&["abc", "de"]), 4).await,
            Err(CollectError::TooLarge(4))
        ));
        assert!(matches!(
            collect_limited(chunked(&["abcde"]), 4).await,
            Err(CollectError::TooLarge(4))
        ));
    }
}
