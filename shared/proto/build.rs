//! Compiles the suite's protos with protox (pure Rust, no system `protoc`) and keeps the
//! descriptor set next to the generated code so servers can offer reflection.

use std::path::PathBuf;

use prost::Message;

const PROTO_ROOT: &str = "../../proto";
const PROTO_FILES: &[&str] = &[
    "enrollment/v1/enrollment.proto",
    "enrollment/v1/partner.proto",
    "enrollment/v1/program.proto",
    "enrollment/v1/revenue.proto",
    "enrollment/v1/incentive.proto",
    "enrollment/v1/directory.proto",
    "relationship/v1/relationship.proto",
    "agreement/v1/agreement.proto",
    "transfer/v1/transfer.proto",
    "transfer/v1/subscription.proto",
    "transfer/v1/transfer_request.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    let descriptors = protox::compile(PROTO_FILES, [PROTO_ROOT])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("suite_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .emit_rerun_if_changed(false)
        // Undecodable requests are the caller's fault: INVALID_ARGUMENT, not INTERNAL.
        .codec_path("crate::codec::ProtoCodec")
        .compile_fds(descriptors)?;
    Ok(())
}
