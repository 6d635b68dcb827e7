//! Raw gRPC, for hostile-input tests: a client that sends any bytes to any method path with a
//! bearer token, the catalogue of every RPC of the suite read from its descriptor set, and
//! the protobuf wire format by hand, to build messages no generated type would encode.

mod catalog;
pub mod wire;

use bytes::{Buf, BufMut};
use http::uri::PathAndQuery;
use tonic::client::Grpc;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Request, Status};

pub use catalog::{Catalog, Field, FieldKind, Rpc};

/// A gRPC client that sends a message's bytes unchanged to any method.
#[derive(Debug, Clone)]
pub struct RawClient {
    grpc: Grpc<Channel>,
}

impl RawClient {
    /// A client on `channel`, e.g. [`crate::TestService::channel`]. It sends messages of any
    /// size, so a test can cross the server's limit.
    pub fn new(channel: Channel) -> Self {
        Self {
            grpc: Grpc::new(channel).max_encoding_message_size(usize::MAX),
        }
    }

    /// Calls `path` (`/package.Service/Method`) with `message` as the request's encoded body
    /// and `Bearer {token}`; the answer's encoded body, or the status.
    pub async fn call(
        &mut self,
        path: &str,
        token: &str,
        message: Vec<u8>,
    ) -> Result<Vec<u8>, Status> {
        let bearer = format!("Bearer {token}");
        self.call_with_metadata(path, &[("authorization", bearer.as_str())], message)
            .await
    }

    /// Calls `path` with `message` and exactly the metadata given (none at all, a forwarded
    /// token, a malformed header, …).
    pub async fn call_with_metadata(
        &mut self,
        path: &str,
        metadata: &[(&'static str, &str)],
        message: Vec<u8>,
    ) -> Result<Vec<u8>, Status> {
        let path = PathAndQuery::try_from(path)
            .map_err(|e| Status::invalid_argument(format!("method path {path}: {e}")))?;
        let mut request = Request::new(message);
        for (key, value) in metadata {
            let value = MetadataValue::try_from(*value)
                .map_err(|e| Status::invalid_argument(format!("{key}: {e}")))?;
            request.metadata_mut().insert(*key, value);
        }
        self.grpc
            .ready()
            .await
            .map_err(|e| Status::unavailable(format!("channel: {e}")))?;
        let response = self.grpc.unary(request, path, BytesCodec).await?;
        Ok(response.into_inner())
    }
}

/// Passes encoded messages through as they are.
#[derive(Debug, Clone, Copy, Default)]
struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;

    fn encoder(&mut self) -> Self::Encoder {
        BytesCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesCodec
    }
}

impl Encoder for BytesCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for BytesCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining()).to_vec()))
    }
}
