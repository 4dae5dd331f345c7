//! The gateway's YAML configuration (schema: docs/configuration.md).
//!
//! Two steps: [`Config::from_yaml`] / [`Config::load`] parse and validate
//! everything that is in the text (and resolve peer host names); key files
//! are read separately by [`Config::load_secrets`], so a config can be checked
//! where its key files do not exist, and secrets live in their own value.
//! Every validation error is reported, each under its field path.

pub mod defaults;
pub mod duration;
mod error;
mod model;
pub mod mtu;
mod raw;
mod secrets;
mod summary;
mod validate;

pub use error::{ConfigError, FieldError, TextLocation};
pub use model::{
    Config, EgressGroup, Export, ExportName, ExportTarget, GlobalnetConfig, HealthConfig,
    LocalConfig, NatConfig, PeerAddressing, PeerConfig, PeerEndpoint, TunnelConfig,
};
pub use secrets::Secrets;

use std::path::Path;

impl Config {
    /// Parses and validates YAML text. Resolves peer endpoint host names;
    /// does not read key files.
    pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
        let raw: raw::RawConfig =
            serde_yaml::from_str(text).map_err(|e| ConfigError::from_yaml(&e))?;
        validate::validate(&raw).map_err(ConfigError::Invalid)
    }

    /// Reads a config file and validates it (see [`Config::from_yaml`]).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = crate::files::read_text_bounded(path, crate::files::MAX_CONFIG_BYTES).map_err(
            |source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            },
        )?;
        Config::from_yaml(&text)
    }
}
