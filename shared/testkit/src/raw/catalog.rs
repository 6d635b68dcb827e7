//! Every RPC of the suite and the shape of its request, read from the descriptor set the
//! servers hand to reflection, so a test covers an RPC the day it is added.

use std::collections::{HashMap, VecDeque};

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};

/// One RPC of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rpc {
    /// Package, e.g. `enrollment.v1`.
    pub package: String,
    /// Full service name, e.g. `enrollment.v1.EnrollmentService`.
    pub service: String,
    /// Method, e.g. `CreatePartner`.
    pub method: String,
    /// Full name of the request message, e.g. `enrollment.v1.CreatePartnerRequest`.
    pub input_type: String,
}

impl Rpc {
    /// The HTTP/2 path the call goes to, e.g. `/enrollment.v1.EnrollmentService/CreatePartner`.
    pub fn path(&self) -> String {
        format!("/{}/{}", self.service, self.method)
    }
}

/// One field of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Name in the proto.
    pub name: String,
    /// Field number.
    pub number: u32,
    /// Whether it repeats (maps are repeated entry messages).
    pub repeated: bool,
    /// Its type.
    pub kind: FieldKind,
}

/// The type of a field, as far as the wire format cares.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    /// `string`: UTF-8 on the wire.
    String,
    /// `bytes`.
    Bytes,
    /// A varint type: `bool`, `int32`, `int64`, `uint32`, `uint64`.
    Varint,
    /// `sint32`, `sint64`: zig-zag varints.
    ZigZag,
    /// `fixed32`, `sfixed32`, `float`.
    Fixed32,
    /// `fixed64`, `sfixed64`, `double`.
    Fixed64,
    /// An enum with these known values.
    Enum(Vec<i32>),
    /// A message, by full name.
    Message(String),
}

/// The suite's services and messages.
#[derive(Debug, Clone)]
pub struct Catalog {
    rpcs: Vec<Rpc>,
    messages: HashMap<String, DescriptorProto>,
    enums: HashMap<String, Vec<i32>>,
}

impl Catalog {
    /// The catalogue of `suite_proto::FILE_DESCRIPTOR_SET`.
    pub fn suite() -> Self {
        let files = FileDescriptorSet::decode(suite_proto::FILE_DESCRIPTOR_SET)
            .expect("the suite's descriptor set decodes");
        let mut catalog = Self {
            rpcs: Vec::new(),
            messages: HashMap::new(),
            enums: HashMap::new(),
        };
        for file in &files.file {
            let package = file.package().to_owned();
            for message in &file.message_type {
                catalog.add_message(&package, message);
            }
            for enumeration in &file.enum_type {
                catalog.add_enum(&package, enumeration);
            }
            for service in &file.service {
                for method in &service.method {
                    catalog.rpcs.push(Rpc {
                        package: package.clone(),
                        service: format!("{package}.{}", service.name()),
                        method: method.name().to_owned(),
                        input_type: full_name(method.input_type()),
                    });
                }
            }
        }
        catalog
    }

    fn add_message(&mut self, scope: &str, message: &DescriptorProto) {
        let name = format!("{scope}.{}", message.name());
        for nested in &message.nested_type {
            self.add_message(&name, nested);
        }
        for enumeration in &message.enum_type {
            self.add_enum(&name, enumeration);
        }
        self.messages.insert(name, message.clone());
    }

    fn add_enum(&mut self, scope: &str, enumeration: &EnumDescriptorProto) {
        let values = enumeration.value.iter().map(|v| v.number()).collect();
        self.enums
            .insert(format!("{scope}.{}", enumeration.name()), values);
    }

    /// Every RPC of every service, in declaration order.
    pub fn rpcs(&self) -> &[Rpc] {
        &self.rpcs
    }

    /// The fields of message `full_name` (e.g. `enrollment.v1.Partner`); none if unknown.
    pub fn fields(&self, full_name: &str) -> Vec<Field> {
        let Some(message) = self.messages.get(full_name) else {
            return Vec::new();
        };
        message
            .field
            .iter()
            .map(|field| Field {
                name: field.name().to_owned(),
                number: u32::try_from(field.number()).expect("field numbers are positive"),
                repeated: field.label() == Label::Repeated,
                kind: self.kind(field.r#type(), field.type_name()),
            })
            .collect()
    }

    fn kind(&self, wire_type: Type, type_name: &str) -> FieldKind {
        match wire_type {
            Type::String => FieldKind::String,
            Type::Bytes => FieldKind::Bytes,
            Type::Bool | Type::Int32 | Type::Int64 | Type::Uint32 | Type::Uint64 => {
                FieldKind::Varint
            }
            Type::Sint32 | Type::Sint64 => FieldKind::ZigZag,
            Type::Fixed32 | Type::Sfixed32 | Type::Float => FieldKind::Fixed32,
            Type::Fixed64 | Type::Sfixed64 | Type::Double => FieldKind::Fixed64,
            Type::Enum => FieldKind::Enum(
                self.enums
                    .get(&full_name(type_name))
                    .cloned()
                    .unwrap_or_default(),
            ),
            Type::Message | Type::Group => FieldKind::Message(full_name(type_name)),
        }
    }

    /// Field numbers leading from message `full_name` to its first `string` field, searched
    /// breadth first through nested messages; `None` if it holds no string.
    pub fn path_to_string(&self, full_name: &str) -> Option<Vec<u32>> {
        let mut queue = VecDeque::from([(full_name.to_owned(), Vec::new())]);
        while let Some((message, path)) = queue.pop_front() {
            for field in self.fields(&message) {
                let mut field_path = path.clone();
                field_path.push(field.number);
                match field.kind {
                    FieldKind::String => return Some(field_path),
                    FieldKind::Message(nested) if field_path.len() < MAX_NESTING => {
                        queue.push_back((nested, field_path));
                    }
                    _ => {}
                }
            }
        }
        None
    }
}

/// How deep [`Catalog::path_to_string`] looks.
const MAX_NESTING: usize = 4;

/// `.enrollment.v1.Partner` → `enrollment.v1.Partner`.
fn full_name(type_name: &str) -> String {
    type_name.trim_start_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_of_the_suite_is_listed() {
        let catalog = Catalog::suite();
        for package in [
            "enrollment.v1",
            "relationship.v1",
            "agreement.v1",
            "transfer.v1",
        ] {
            assert!(catalog.rpcs().iter().any(|rpc| rpc.package == package));
        }
        let create = catalog
            .rpcs()
            .iter()
            .find(|rpc| rpc.method == "CreatePartner")
            .unwrap();
        assert_eq!(
            create.path(),
            "/enrollment.v1.EnrollmentService/CreatePartner"
        );
        assert!(catalog.path_to_string(&create.input_type).is_some());
    }
}
