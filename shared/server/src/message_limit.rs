//! The size limit on request messages. tonic has its own limit but answers OUT_OF_RANGE
//! (`tonic::codec::decode`); the gRPC status-code table asks for RESOURCE_EXHAUSTED, which
//! is also what clients retry-classify as "too big, do not resend as is". So this layer reads
//! each message's length prefix as the body streams in and refuses an oversized message
//! before tonic buffers it.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tonic::Status;
use tonic::body::Body;

/// Largest request message a suite service accepts, in bytes. Requests are forms and
/// lists of names, so 1 MiB leaves ample room while bounding the memory one call can pin.
pub const MAX_REQUEST_MESSAGE_BYTES: usize = 1024 * 1024;

/// tonic's own limit (`DEFAULT_MAX_RECV_MESSAGE_SIZE`), which must stay the looser one so
/// that ours answers first.
const TONIC_DEFAULT_LIMIT: usize = 4 * 1024 * 1024;
const _: () = assert!(MAX_REQUEST_MESSAGE_BYTES < TONIC_DEFAULT_LIMIT);

/// gRPC frames each message as a compressed flag byte and a big-endian u32 length.
const PREFIX_BYTES: usize = 5;

/// Wraps a request's body so an oversized message ends it with RESOURCE_EXHAUSTED.
pub(crate) fn limit_request_messages(request: http::Request<Body>) -> http::Request<Body> {
    request.map(|body| {
        Body::new(LimitedBody {
            inner: body,
            framing: Framing::default(),
        })
    })
}

struct LimitedBody {
    inner: Body,
    framing: Framing,
}

impl http_body::Body for LimitedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
            && let Err(status) = self.framing.read(data, MAX_REQUEST_MESSAGE_BYTES)
        {
            return Poll::Ready(Some(Err(status)));
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Where the body stands in its sequence of length-prefixed messages; a prefix may arrive
/// split across data frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Prefix {
        bytes: [u8; PREFIX_BYTES],
        filled: usize,
    },
    Message {
        remaining: usize,
    },
}

impl Default for Framing {
    fn default() -> Self {
        Self::Prefix {
            bytes: [0; PREFIX_BYTES],
            filled: 0,
        }
    }
}

impl Framing {
    /// Advances over `data`, refusing the first message longer than `limit`.
    fn read(&mut self, mut data: &[u8], limit: usize) -> Result<(), Status> {
        while !data.is_empty() {
            match self {
                Self::Prefix { bytes, filled } => {
                    let taken = (PREFIX_BYTES - *filled).min(data.len());
                    bytes[*filled..*filled + taken].copy_from_slice(&data[..taken]);
                    *filled += taken;
                    data = &data[taken..];
                    if *filled < PREFIX_BYTES {
                        continue;
                    }
                    let length = [bytes[1], bytes[2], bytes[3], bytes[4]];
                    let length = u32::from_be_bytes(length) as usize;
                    if length > limit {
                        return Err(Status::resource_exhausted(format!(
                            "request message of {length} bytes is over the limit of {limit} bytes"
                        )));
                    }
                    *self = Self::Message { remaining: length };
                }
                Self::Message { remaining } => {
                    let taken = (*remaining).min(data.len());
                    *remaining -= taken;
                    data = &data[taken..];
                }
            }
            if *self == (Self::Message { remaining: 0 }) {
                *self = Self::default();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(length: u32) -> Vec<u8> {
        let mut bytes = vec![0];
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.resize(PREFIX_BYTES + length as usize, b'x');
        bytes
    }

    #[test]
    fn a_message_at_the_limit_passes_and_one_over_is_refused() {
        assert!(Framing::default().read(&message(10), 10).is_ok());
        let refused = Framing::default().read(&message(11), 10).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    }

    #[test]
    fn prefixes_split_across_frames_are_read_whole() {
        let mut stream = message(3);
        stream.extend(message(0));
        stream.extend(message(11));
        let mut framing = Framing::default();
        let mut refused = None;
        for byte in stream.chunks(1) {
            if let Err(status) = framing.read(byte, 10) {
                refused = Some(status);
                break;
            }
        }
        assert_eq!(refused.unwrap().code(), tonic::Code::ResourceExhausted);
    }

    #[test]
    fn several_messages_in_one_frame_are_each_checked() {
        let mut stream = message(10);
        stream.extend(message(10));
        let mut framing = Framing::default();
        assert!(framing.read(&stream, 10).is_ok());
        assert_eq!(framing, Framing::default());
        stream.extend(message(11));
        assert!(Framing::default().read(&stream, 10).is_err());
    }
}
