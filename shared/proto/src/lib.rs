//! Generated protobuf messages, tonic clients and servers for the four services, and the
//! encoded descriptor set that servers hand to gRPC reflection.

#![allow(missing_docs, clippy::all)] // generated code

pub mod codec;

/// The resource a request is about, for the span of the call: its `name`, or the `parent` it
/// lists or creates in; empty when it names none. Implemented for every RPC's request.
pub trait Resource {
    /// The resource name, e.g. `partners/{tenant}/customers/{customer}`.
    fn resource(&self) -> &str;
}

include!(concat!(env!("OUT_DIR"), "/resources.rs"));

/// Encoded `FileDescriptorSet` of every suite proto, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("suite_descriptor");

/// `enrollment.v1`: partners and program enrollments.
pub mod enrollment {
    pub mod v1 {
        tonic::include_proto!("enrollment.v1");
    }
}

/// `relationship.v1`: customers and relationships.
pub mod relationship {
    pub mod v1 {
        tonic::include_proto!("relationship.v1");
    }
}

/// `agreement.v1`: partner and customer agreements.
pub mod agreement {
    pub mod v1 {
        tonic::include_proto!("agreement.v1");
    }
}

/// `transfer.v1`: subscriptions and transfers.
pub mod transfer {
    pub mod v1 {
        tonic::include_proto!("transfer.v1");
    }
}
