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
    std::fs::write(out_dir.join("resources.rs"), resource_impls(&descriptors))?;
    tonic_prost_build::configure()
        .emit_rerun_if_changed(false)
        // Undecodable requests are the caller's fault: INVALID_ARGUMENT, not INTERNAL.
        .codec_path("crate::codec::ProtoCodec")
        .compile_fds(descriptors)?;
    Ok(())
}

/// `impl Resource` for every RPC's request message: the resource it is about is its `name`,
/// else its `parent`, else none.
fn resource_impls(descriptors: &prost_types::FileDescriptorSet) -> String {
    let mut code = String::new();
    let mut done = std::collections::BTreeSet::new();
    for file in &descriptors.file {
        for service in &file.service {
            for method in &service.method {
                let input = method.input_type();
                if !done.insert(input.to_owned()) {
                    continue;
                }
                let Some((file, message)) = find_message(descriptors, input) else {
                    continue;
                };
                let field = ["name", "parent"].into_iter().find(|wanted| {
                    message.field.iter().any(|field| {
                        field.name() == *wanted
                            && field.r#type() == prost_types::field_descriptor_proto::Type::String
                    })
                });
                let body = match field {
                    Some(field) => format!("&self.{field}"),
                    None => "\"\"".to_owned(),
                };
                let module = file.package().replace('.', "::");
                code.push_str(&format!(
                    "impl crate::Resource for crate::{module}::{} {{\n    fn resource(&self) -> &str {{\n        {body}\n    }}\n}}\n",
                    message.name()
                ));
            }
        }
    }
    code
}

/// The message named `.package.Message`, with its file.
fn find_message<'a>(
    descriptors: &'a prost_types::FileDescriptorSet,
    full_name: &str,
) -> Option<(
    &'a prost_types::FileDescriptorProto,
    &'a prost_types::DescriptorProto,
)> {
    descriptors.file.iter().find_map(|file| {
        let prefix = format!(".{}.", file.package());
        let name = full_name.strip_prefix(&prefix)?;
        file.message_type
            .iter()
            .find(|message| message.name() == name)
            .map(|message| (file, message))
    })
}
