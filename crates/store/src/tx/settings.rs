//! Settings.

use super::*;

#[async_trait]
impl SettingReads for SqlTx {
    async fn setting(&mut self, key: &str) -> Result<Option<String>> {
        let row: Option<(String,)> = self
            .fetch_optional("SELECT value FROM settings WHERE key = $1", &args![key])
            .await?;
        Ok(row.map(|(v,)| v))
    }
}

#[async_trait]
impl SettingTx for SqlTx {
    async fn set_setting(&mut self, key: &str, value: &str) -> Result<()> {
        const SQL: &str =
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
        self.execute(SQL, &args![key, value]).await.map(drop)
    }
}
