//! The subset of `envoy.service.ratelimit.v3` messages that the gateway sends and reads.
//!
//! Field numbers follow envoyproxy/data-plane-api: `envoy/service/ratelimit/v3/rls.proto`
//! (RateLimitRequest, RateLimitResponse and its DescriptorStatus and RateLimit),
//! `envoy/extensions/common/ratelimit/v3/ratelimit.proto` (RateLimitDescriptor and Entry),
//! `envoy/config/core/v3/base.proto` (HeaderValue) and protobuf's
//! `google/protobuf/duration.proto` (Duration). Each field written or read names its proto
//! field in a comment.

use std::time::Duration;

use crate::authz_proto::decode_header_value;
use crate::proto::{DecodeError, Encoder, fields};

/// `RateLimitResponse.Code.OVER_LIMIT`; `OK` is 1 and `UNKNOWN` 0.
pub(crate) const CODE_OVER_LIMIT: u32 = 2;
#[cfg(any(test, feature = "testing"))]
pub(crate) const CODE_OK: u32 = 1;

/// Encodes a `RateLimitRequest`.
pub(crate) fn encode_request(
    domain: &str,
    descriptors: &[Vec<(String, String)>],
    hits: u32,
) -> Vec<u8> {
    let mut enc = Encoder::new();
    enc.string(1, domain); // RateLimitRequest.domain
    for descriptor in descriptors {
        // RateLimitRequest.descriptors = 2 (RateLimitDescriptor)
        enc.message(2, |d| {
            for (key, value) in descriptor {
                // RateLimitDescriptor.entries = 1: Entry.key = 1, Entry.value = 2
                d.map_entry(1, key, value);
            }
        });
    }
    enc.uint(3, u64::from(hits)); // RateLimitRequest.hits_addend (0 means 1 to the service)
    enc.finish()
}

/// A decoded `RateLimitRequest`, for the test server.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RateLimitRequest {
    pub domain: String,
    pub descriptors: Vec<Vec<(String, String)>>,
    pub hits_addend: u32,
}

#[cfg(any(test, feature = "testing"))]
impl RateLimitRequest {
    pub(crate) fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut out = RateLimitRequest::default();
        for item in fields(buf) {
            match item? {
                (1, v) => out.domain = v.string(1)?,
                (2, v) => {
                    let mut entries = Vec::new();
                    for item in fields(v.bytes(2)?) {
                        if let (1, v) = item? {
                            entries.push(crate::proto::decode_pair(v.bytes(1)?)?);
                        }
                    }
                    out.descriptors.push(entries);
                }
                (3, v) => out.hits_addend = v.u32(3)?,
                _ => {}
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RateLimitResponse {
    pub overall_code: u32,
    pub statuses: Vec<DescriptorStatus>,
    pub response_headers_to_add: Vec<(String, String)>,
    pub request_headers_to_add: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DescriptorStatus {
    pub code: u32,
    pub current_limit: Option<RateLimit>,
    pub limit_remaining: u32,
    pub duration_until_reset: Option<Duration>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RateLimit {
    pub requests_per_unit: u32,
    /// `RateLimit.Unit`: SECOND = 1, MINUTE = 2, HOUR = 3, DAY = 4, MONTH = 5, YEAR = 6,
    /// WEEK = 7.
    pub unit: u32,
    pub name: String,
}

impl RateLimitResponse {
    pub(crate) fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut out = RateLimitResponse::default();
        for item in fields(buf) {
            match item? {
                (1, v) => out.overall_code = v.u32(1)?, // .overall_code
                (2, v) => out.statuses.push(decode_status(v.bytes(2)?)?), // .statuses
                (3, v) => out
                    .response_headers_to_add
                    .push(decode_header_value(v.bytes(3)?)?),
                (4, v) => out
                    .request_headers_to_add
                    .push(decode_header_value(v.bytes(4)?)?),
                // raw_body (5), dynamic_metadata (6) and quota (7) have no use here.
                _ => {}
            }
        }
        Ok(out)
    }

    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut enc = Encoder::new();
        enc.uint(1, u64::from(self.overall_code)); // .overall_code
        for status in &self.statuses {
            // RateLimitResponse.statuses = 2 (DescriptorStatus)
            enc.message(2, |s| {
                s.uint(1, u64::from(status.code)); // .code
                if let Some(limit) = &status.current_limit {
                    // DescriptorStatus.current_limit = 2 (RateLimit)
                    s.message(2, |l| {
                        l.uint(1, u64::from(limit.requests_per_unit)); // .requests_per_unit
                        l.uint(2, u64::from(limit.unit)); // .unit
                        l.string(3, &limit.name); // .name
                    });
                }
                s.uint(3, u64::from(status.limit_remaining)); // .limit_remaining
                if let Some(reset) = status.duration_until_reset {
                    // DescriptorStatus.duration_until_reset = 4: Duration.seconds = 1, .nanos = 2
                    s.message(4, |d| {
                        d.int(1, i64::try_from(reset.as_secs()).unwrap_or(i64::MAX));
                        d.int(2, i64::from(reset.subsec_nanos()));
                    });
                }
            });
        }
        for (key, value) in &self.response_headers_to_add {
            enc.map_entry(3, key, value); // .response_headers_to_add (HeaderValue key/value)
        }
        for (key, value) in &self.request_headers_to_add {
            enc.map_entry(4, key, value); // .request_headers_to_add
        }
        enc.finish()
    }
}

fn decode_status(buf: &[u8]) -> Result<DescriptorStatus, DecodeError> {
    let mut out = DescriptorStatus::default();
    for item in fields(buf) {
        match item? {
            (1, v) => out.code = v.u32(1)?,
            (2, v) => {
                let mut limit = RateLimit::default();
                for item in fields(v.bytes(2)?) {
                    match item? {
                        (1, v) => limit.requests_per_unit = v.u32(1)?,
                        (2, v) => limit.unit = v.u32(2)?,
                        (3, v) => limit.name = v.string(3)?,
                        _ => {}
                    }
                }
                out.current_limit = Some(limit);
            }
            (3, v) => out.limit_remaining = v.u32(3)?,
            (4, v) => out.duration_until_reset = Some(decode_duration(v.bytes(4)?)?),
            // quota (5) is not used.
            _ => {}
        }
    }
    Ok(out)
}

/// A `google.protobuf.Duration`; a negative one (invalid for a time until reset) is zero.
fn decode_duration(buf: &[u8]) -> Result<Duration, DecodeError> {
    let (mut seconds, mut nanos) = (0i64, 0i32);
    for item in fields(buf) {
        match item? {
            (1, v) => seconds = v.i64(1)?,
            (2, v) => nanos = v.i32(2)?,
            _ => {}
        }
    }
    let seconds = Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
    let nanos = Duration::from_nanos(u64::try_from(nanos).unwrap_or(0));
    Ok(seconds.saturating_add(nanos))
}
