//! Compiles `hotline/v1/*.proto` with protox (pure Rust, no system protoc) and writes the
//! descriptor set that the gateway's reflection service serves.

use std::path::PathBuf;

use prost::Message;

const FILES: &[&str] = &[
    "hotline/v1/common.proto",
    "hotline/v1/entities.proto",
    "hotline/v1/sync.proto",
    "hotline/v1/admin.proto",
    "hotline/v1/audit.proto",
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

    let grpc = std::env::var_os("CARGO_FEATURE_GRPC").is_some();
    tonic_prost_build::configure()
        .build_client(grpc)
        .build_server(grpc)
        .compile_fds(descriptors)?;
    Ok(())
}
