//! Settings: one text value per key (the catalogue is `domain::settings`).

use crate::Result;
use async_trait::async_trait;

#[async_trait]
pub trait SettingReads: Send {
    async fn setting(&mut self, key: &str) -> Result<Option<String>>;
}

#[async_trait]
pub trait SettingTx: SettingReads {
    async fn set_setting(&mut self, key: &str, value: &str) -> Result<()>;
}
