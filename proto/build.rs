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
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(grpc)
        .codec_path("crate::codec::RequestCodec")
        .compile_fds(descriptors.clone())?;
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
