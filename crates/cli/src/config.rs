//! Configuration: flags override environment variables (both handled by clap), which
//! override `rollcall.toml` in the working directory, which overrides the defaults.

use anyhow::{Context as _, Result};
use serde::Deserialize;

pub const DEFAULT_DATABASE: &str = "sqlite://rollcall.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database: Option<String>,
    pub listen: Option<String>,
    pub base_url: Option<String>,
    pub log: Option<String>,
}

impl FileConfig {
    pub fn load() -> Result<FileConfig> {
        let path = std::path::Path::new("rollcall.toml");
        if !path.exists() {
            return Ok(FileConfig::default());
        }
        let text = std::fs::read_to_string(path).context("can't read rollcall.toml")?;
        toml::from_str(&text).context("rollcall.toml is not valid (keys: database, listen, base_url, log)")
    }
}
