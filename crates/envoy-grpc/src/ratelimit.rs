//! The global rate limit client: asks an `envoy.service.ratelimit.v3.RateLimitService`
//! (such as envoyproxy/ratelimit) whether a request is over its limits, as Envoy's
//! `ratelimit` filter does.

use std::time::Duration;

use bytes::Bytes;

use crate::grpc::{GrpcChannel, GrpcError};
use crate::ratelimit_proto::{CODE_OVER_LIMIT, RateLimitResponse, encode_request};

/// The gRPC method path of `RateLimitService.ShouldRateLimit`.
pub const SHOULD_RATE_LIMIT_PATH: &str =
    "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";

/// The rate limit service's decision for one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitVerdict {
    /// Whether any descriptor is over its limit (`overall_code == OVER_LIMIT`). Like Envoy,
    /// an `UNKNOWN` overall code does not limit.
    pub over_limit: bool,
    /// Headers the service asks to add to the client's response (lower-case names).
    pub response_headers: Vec<(String, String)>,
    /// Requests left under the tightest limit that applied: the fewest remaining among the
    /// descriptors the service had a limit for. `None` when no limit applied.
    pub limit_remaining: Option<u32>,
    /// When that tightest limit resets, if the service said.
    pub reset: Option<Duration>,
}

/// A client of one rate limit service. Cheap to clone; calls share the channel's connection.
#[derive(Debug, Clone)]
pub struct RateLimitClient {
    channel: GrpcChannel,
}

impl RateLimitClient {
    pub fn new(channel: GrpcChannel) -> Self {
        Self { channel }
    }

    pub fn channel(&self) -> &GrpcChannel {
        &self.channel
    }

    /// Asks whether `hits` more requests (0 counts as 1, as the service reads it) matching
    /// `descriptors` in `domain` are over the limit. Each descriptor is a list of
    /// `(key, value)` entries, in order.
    pub async fn should_rate_limit(
        &self,
        domain: &str,
        descriptors: &[Vec<(String, String)>],
        hits: u32,
    ) -> Result<RateLimitVerdict, GrpcError> {
        let message = Bytes::from(encode_request(domain, descriptors, hits));
        let response = self.channel.unary(SHOULD_RATE_LIMIT_PATH, message).await?;
        let response =
            RateLimitResponse::decode(&response).map_err(|source| GrpcError::Decode {
                message: "RateLimitResponse",
                source,
            })?;
        Ok(verdict(response))
    }
}

fn verdict(response: RateLimitResponse) -> RateLimitVerdict {
    // Statuses without a current limit are descriptors no rule matched: they do not bound
    // anything, so their `limit_remaining` (always 0) would mislead.
    let tightest = response
        .statuses
        .iter()
        .filter(|status| status.current_limit.is_some())
        .min_by_key(|status| status.limit_remaining);
    RateLimitVerdict {
        over_limit: response.overall_code == CODE_OVER_LIMIT,
        response_headers: response
            .response_headers_to_add
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect(),
        limit_remaining: tightest.map(|status| status.limit_remaining),
        reset: tightest.and_then(|status| status.duration_until_reset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit_proto::{CODE_OK, DescriptorStatus, RateLimit, RateLimitRequest};

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[rustfmt::skip]
    const REQUEST_BYTES: &[u8] = &[
        0x0a, 0x01, b'd',                   // RateLimitRequest.domain
        0x12, 0x08,                         // .descriptors (RateLimitDescriptor), 8 bytes
          0x0a, 0x06,                       // RateLimitDescriptor.entries, 6 bytes
            0x0a, 0x01, b'k', 0x12, 0x01, b'v', // Entry.key, Entry.value
        0x18, 0x01,                         // .hits_addend = 1
    ];

    #[test]
    fn request_encodes_to_the_expected_bytes() {
        assert_eq!(
            encode_request("d", &[pairs(&[("k", "v")])], 1),
            REQUEST_BYTES
        );
        // A zero hits_addend is proto3's default and is left out.
        assert_eq!(
            encode_request("d", &[pairs(&[("k", "v")])], 0),
            &REQUEST_BYTES[..13]
        );
    }

    #[test]
    fn request_round_trips() {
        let descriptors = vec![pairs(&[("k", "v")]), pairs(&[("a", "1"), ("b", "")])];
        let bytes = encode_request("llm", &descriptors, 250);
        let decoded = RateLimitRequest::decode(&bytes).unwrap();
        assert_eq!(
            decoded,
            RateLimitRequest {
                domain: "llm".into(),
                descriptors,
                hits_addend: 250
            }
        );
        assert_eq!(
            RateLimitRequest::decode(REQUEST_BYTES).unwrap().hits_addend,
            1
        );
    }

    #[rustfmt::skip]
    const RESPONSE_BYTES: &[u8] = &[
        0x08, 0x02,                         // RateLimitResponse.overall_code = OVER_LIMIT
        0x12, 0x0c,                         // .statuses (DescriptorStatus), 12 bytes
          0x08, 0x02,                       // .code = OVER_LIMIT
          0x12, 0x04, 0x08, 0x0a, 0x10, 0x02, // .current_limit: 10 per MINUTE
          0x22, 0x02, 0x08, 0x1e,           // .duration_until_reset: 30 s
        0x1a, 0x17,                         // .response_headers_to_add (HeaderValue), 23 bytes
          0x0a, 0x11, b'x', b'-', b'r', b'a', b't', b'e', b'l', b'i', b'm', b'i', b't',
                      b'-', b'l', b'i', b'm', b'i', b't', // .key
          0x12, 0x02, b'1', b'0',           // .value
    ];

    fn over_limit_response() -> RateLimitResponse {
        RateLimitResponse {
            overall_code: CODE_OVER_LIMIT,
            statuses: vec![DescriptorStatus {
                code: CODE_OVER_LIMIT,
                current_limit: Some(RateLimit {
                    requests_per_unit: 10,
                    unit: 2,
                    name: String::new(),
                }),
                limit_remaining: 0,
                duration_until_reset: Some(Duration::from_secs(30)),
            }],
            response_headers_to_add: pairs(&[("x-ratelimit-limit", "10")]),
            request_headers_to_add: vec![],
        }
    }

    #[test]
    fn response_round_trips_through_the_expected_bytes() {
        assert_eq!(over_limit_response().encode(), RESPONSE_BYTES);
        assert_eq!(
            RateLimitResponse::decode(RESPONSE_BYTES).unwrap(),
            over_limit_response()
        );
        let mut richer = over_limit_response();
        richer.statuses[0].duration_until_reset = Some(Duration::new(1, 500));
        richer.statuses[0].current_limit.as_mut().unwrap().name = "per-user".into();
        richer.request_headers_to_add = pairs(&[("x-seen", "1")]);
        assert_eq!(RateLimitResponse::decode(&richer.encode()).unwrap(), richer);
    }

    #[test]
    fn negative_durations_read_as_zero() {
        // duration_until_reset { seconds: -5 }
        let mut bytes = vec![0x12, 0x0d, 0x22, 0x0b, 0x08];
        bytes.extend_from_slice(&[0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        let decoded = RateLimitResponse::decode(&bytes).unwrap();
        assert_eq!(
            decoded.statuses[0].duration_until_reset,
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn verdict_reports_the_tightest_limit() {
        assert_eq!(
            verdict(over_limit_response()),
            RateLimitVerdict {
                over_limit: true,
                response_headers: pairs(&[("x-ratelimit-limit", "10")]),
                limit_remaining: Some(0),
                reset: Some(Duration::from_secs(30)),
            }
        );
        let limit = |remaining, reset| DescriptorStatus {
            code: CODE_OK,
            current_limit: Some(RateLimit {
                requests_per_unit: 100,
                unit: 1,
                name: String::new(),
            }),
            limit_remaining: remaining,
            duration_until_reset: Some(Duration::from_secs(reset)),
        };
        let response = RateLimitResponse {
            overall_code: CODE_OK,
            statuses: vec![limit(7, 1), DescriptorStatus::default(), limit(3, 9)],
            response_headers_to_add: pairs(&[("X-Upper", "v")]),
            ..Default::default()
        };
        let got = verdict(response);
        assert!(!got.over_limit);
        assert_eq!(got.limit_remaining, Some(3));
        assert_eq!(got.reset, Some(Duration::from_secs(9)));
        assert_eq!(got.response_headers, pairs(&[("x-upper", "v")]));
        // UNKNOWN and no statuses: not limited, nothing known.
        assert_eq!(
            verdict(RateLimitResponse::default()),
            RateLimitVerdict::default()
        );
    }
}
