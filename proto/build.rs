//! Compiles `hotline/v1/*.proto` with protox (pure Rust, no system protoc) and writes the
//! descriptor set that the gateway's reflection service serves. Servers and clients are
//! generated in two passes because they decode with different codecs (see `src/codec.rs`).

use std::path::PathBuf;

use prost::Message;

const FILES: &[&str] = &[
    "hotline/v1/common.proto",
    "hotline/v1/entities.proto",
    "hotline/v1/sync.proto",
    "hotline/v1/admin.proto",
    "hotline/v1/audit.proto",
    "hotline/v1/review.proto",
    "hotline/v1/reports.proto",
];

/// The proto name the server's Subscribe answers with (no such message is declared: it maps to
/// `crate::prepared::PreparedSyncEvent`).
const PREPARED_PROTO: &str = ".hotline.v1.PreparedSyncEvent";

/// Makes the server's `Federation.Subscribe` answer [`PREPARED_PROTO`] instead of
/// `.hotline.v1.SyncEvent`.
fn prepared_subscribe(
    set: &mut prost_types::FileDescriptorSet,
) -> Result<(), Box<dyn std::error::Error>> {
    let method = set
        .file
        .iter_mut()
        .flat_map(|file| file.service.iter_mut())
        .filter(|service| service.name() == "Federation")
        .flat_map(|service| service.method.iter_mut())
        .find(|method| method.name() == "Subscribe")
        .ok_or("no Federation.Subscribe in the protos")?;
    if method.output_type() != ".hotline.v1.SyncEvent" {
        return Err(format!(
            "Federation.Subscribe answers {}, not .hotline.v1.SyncEvent",
            method.output_type()
        )
        .into());
    }
    method.output_type = Some(PREPARED_PROTO.into());
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for file in FILES {
        println!("cargo:rerun-if-changed={file}");
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptors = protox::compile(FILES, ["."])?;
    std::fs::write(
        out_dir.join("hotline_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    // Messages and servers: the servers decode requests with our codec, which answers a
    // malformed request with INVALID_ARGUMENT instead of tonic-prost's INTERNAL.
    let grpc = std::env::var_os("CARGO_FEATURE_GRPC").is_some();
    // The server's Subscribe answers events encoded once and shared by every subscriber they
    // are for (`crate::prepared`): the same bytes on the wire, so the clients (and the
    // reflection descriptors above) keep `SyncEvent`.
    let mut servers = descriptors.clone();
    if grpc {
        prepared_subscribe(&mut servers)?;
    }
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(grpc)
        .codec_path("crate::codec::RequestCodec")
        .extern_path(PREPARED_PROTO, "crate::prepared::PreparedSyncEvent")
        .compile_fds(servers)?;
    // Clients only, with tonic-prost's codec (an answer a client cannot decode is INTERNAL),
    // over the messages above (`extern_path`: none are generated twice).
    let clients = out_dir.join("clients");
    std::fs::create_dir_all(&clients)?;
    if grpc {
        tonic_prost_build::configure()
            .build_client(true)
            .build_server(false)
            .extern_path(".hotline.v1", "crate::v1")
            .out_dir(&clients)
            .compile_fds(descriptors)?;
    } else {
        std::fs::write(clients.join("hotline.v1.rs"), "")?;
    }
    Ok(())
}
