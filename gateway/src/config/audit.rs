//! The `[audit]` table.

use std::path::PathBuf;

use serde::Deserialize;

use super::GatewayConfig;

/// The `[audit]` table: the gateway's own Ed25519 key that signs audit checkpoints.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// The signing key file (32 raw bytes, the Ed25519 seed); default
    /// `<data_dir>/audit-signing.key`, generated with mode 0600 on first start when missing.
    pub signing_key: Option<PathBuf>,
    /// How often a checkpoint is signed while the trail grew, in seconds (at least 1).
    pub checkpoint_interval_secs: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            signing_key: None,
            checkpoint_interval_secs: 60,
        }
    }
}

impl GatewayConfig {
    /// The audit signing key's file: `audit.signing_key`, or `<data_dir>/audit-signing.key`.
    pub fn audit_key_path(&self) -> PathBuf {
        self.audit
            .signing_key
            .clone()
            .unwrap_or_else(|| self.data_dir.join("audit-signing.key"))
    }
}
